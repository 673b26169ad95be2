#include "agent/client/handoff.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "agent/client/call.hpp"
#include "lib/store/backend.hpp"

extern char** environ;

namespace weir::agent {

namespace {

inline constexpr std::string_view kCluster = "weir-cluster";

// The call's stdin again, as a file at offset 0 on descriptor 0.
// weir-cluster, or code 102 saying why it cannot run (`why`: what needs it).
Expected<std::string> cluster_binary(const std::string& why) {
  std::string cluster = sibling_binary(kCluster);
  if (::access(cluster.c_str(), X_OK) != 0) {
    return fail(cni::make_error(cni::Code::kStore,
                                why + ", which needs " + cluster + ": " + std::strerror(errno)));
  }
  return cluster;
}

bool restore_stdin(std::string_view bytes) {
  const int fd = ::memfd_create("weir-call", 0);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  const bool ok = ::lseek(fd, 0, SEEK_SET) == 0 && ::dup2(fd, 0) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Expected<void> run_where_the_store_is(const cni::Call& call, std::string_view program,
                                      bool on_etcd) {
  auto backend = store::backend_for(call.conf.raw);
  if (!backend) return fail(backend.error());
  if (!backend->etcd_backed()) return {};
  if (!on_etcd) {
    // Its other verbs go on with the SQLite store, where anything it made is.
    if (call.env.command != cni::Command::kAdd) return {};
    return fail(cni::make_error(
        cni::Code::kUnsupportedField,
        std::string(program) + " keeps its records in SQLite only, and " + backend->origin +
            " names an etcd store: give this network \"store\": {\"type\": \"sqlite\"}"));
  }
  if (store::etcd_linked()) return {};
  auto found = cluster_binary("the network's store is etcd (" + backend->origin + ")");
  if (!found) return fail(found.error());
  const std::string& cluster = *found;
  if (!restore_stdin(call.stdin_bytes)) {
    return fail(cni::sys_error(errno, "hand the call to " + cluster));
  }
  const std::string name(program);
  char* argv[] = {const_cast<char*>(kCluster.data()), const_cast<char*>(name.c_str()), nullptr};
  ::execve(cluster.c_str(), argv, environ);
  return fail(cni::sys_error(errno, "exec " + cluster));
}

Expected<void> run_in_cluster(std::string_view program, int argc, char** argv) {
  if (store::etcd_linked()) return {};
  auto cluster = cluster_binary("the store is etcd");
  if (!cluster) return fail(cluster.error());
  const std::string name(program);
  std::vector<char*> args = {const_cast<char*>(kCluster.data()), const_cast<char*>(name.c_str())};
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execve(cluster->c_str(), args.data(), environ);
  return fail(cni::sys_error(errno, "exec " + *cluster));
}

}  // namespace weir::agent
