#include "agent/front.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "lib/cni/error_json.hpp"
#include "lib/cni/vars.hpp"

namespace weir::agent {

namespace {

// Longer than the store's busy timeout (10 s), which the agent may wait out as the plugin
// would, plus what may be queued before the call (a DNS sync of a big store).
constexpr std::chrono::milliseconds kAgentTimeout{15'000};

std::string read_all(int fd) {
  std::string got;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      return got;
    }
  }
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// The error JSON as plugin_main prints it.
int print_error(const cni::Error& e, std::string_view input) {
  write_all(1, cni::error_to_json(e, cni::version_for_errors(input)).dump() + "\n");
  return 1;
}

// Becomes the local binary, which reads the stdin we already read from a copy in memory.
int exec_local(const FrontEnd& front, const std::string& input) {
  const std::string local = sibling_binary(front.local_binary);
  const int fd = ::memfd_create("weir-stdin", MFD_CLOEXEC);
  if (fd >= 0) {
    write_all(fd, input);
    if (::lseek(fd, 0, SEEK_SET) == 0 && ::dup2(fd, 0) == 0) {
      char* argv[] = {const_cast<char*>(local.c_str()), nullptr};
      ::execv(local.c_str(), argv);
    }
  }
  return print_error(
      cni::sys_error(errno, std::string(front.plugin.name) + ": run " + cni::quoted(local),
                     cni::Code::kIoFailure),
      input);
}

// Whether CNI_NETNS names the same netns in the agent as here: not a path relative to our cwd
// or to the calling process itself ("/proc/self/ns/net" would be the agent's own netns).
bool netns_path_portable(const char* netns) {
  if (netns == nullptr || *netns == '\0') return true;
  const std::string_view p(netns);
  return p.starts_with('/') && !p.starts_with("/proc/self/") && !p.starts_with("/proc/thread-self/") &&
         !p.starts_with("/dev/fd/");
}

int run(const FrontEnd& front, const std::string& input) {
  const auto conf = nlohmann::json::parse(input, nullptr, false);
  const char* command = std::getenv("CNI_COMMAND");
  const bool forward =
      command != nullptr && (std::strcmp(command, "ADD") == 0 || std::strcmp(command, "DEL") == 0) &&
      netns_path_portable(std::getenv("CNI_NETNS"));
  const std::string dir = forward ? front.agent_dir(conf) : "";
  if (dir.empty()) return exec_local(front, input);

  PluginCall call;
  // What the agent needs to run the call as the local binary would.
  for (std::string_view name : cni::kCallVariables) {
    if (const char* v = std::getenv(std::string(name).c_str())) call.env.emplace(name, v);
  }
  call.stdin_bytes = input;
  auto reply = call_agent(dir, front.plugin, call, kAgentTimeout);
  if (!reply) return print_error(reply.error(), input);
  if (!*reply) return exec_local(front, input);
  write_all(1, (*reply)->out);
  write_all(2, (*reply)->err);
  return (*reply)->exit_code;
}

}  // namespace

int front_main(const FrontEnd& front) {
  const std::string input = read_all(0);
  try {
    return run(front, input);
  } catch (const std::exception& e) {
    // As plugin_main: nothing here throws by design (json::dump does on invalid UTF-8).
    return print_error(cni::internal(std::string(front.plugin.name) + ": " + e.what()), input);
  }
}

}  // namespace weir::agent
