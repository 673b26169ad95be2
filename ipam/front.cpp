#include "ipam/front.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "agent/call.hpp"
#include "ipam/data_dir.hpp"
#include "lib/cni/error_json.hpp"

namespace weir::ipam {

namespace {

// What the agent needs to run the call as weir-ipam-local would (CNI spec, "Parameters").
constexpr const char* kForwarded[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS",
                                      "CNI_IFNAME",  "CNI_ARGS",        "CNI_PATH"};

// Generous: the agent answers one call at a time, and a DNS sync of a big store may come first.
constexpr std::chrono::milliseconds kAgentTimeout{5000};

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

// The folder the agent would serve this call from: the config's IPAM data dir when it is
// absolute. "" for anything else (no ipam section, a relative folder, not JSON): weir-ipam-local
// then reports what is wrong with it.
std::string agent_dir(const nlohmann::json& conf) {
  if (!conf.is_object() || !conf.contains("ipam") || !conf["ipam"].is_object()) return "";
  std::string dir = data_dir_in(conf["ipam"]);
  return dir.starts_with('/') ? dir : "";
}

std::string self_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

// Becomes weir-ipam-local, which reads the stdin we already read from a copy in memory.
int exec_local(const std::string& input) {
  const std::string local = self_dir() + "/weir-ipam-local";
  const int fd = ::memfd_create("weir-ipam-stdin", MFD_CLOEXEC);
  if (fd >= 0) {
    write_all(fd, input);
    if (::lseek(fd, 0, SEEK_SET) == 0 && ::dup2(fd, 0) == 0) {
      char* argv[] = {const_cast<char*>(local.c_str()), nullptr};
      ::execv(local.c_str(), argv);
    }
  }
  return print_error(cni::sys_error(errno, "weir-ipam: run \"" + local + "\"", cni::Code::kIoFailure), input);
}

}  // namespace

int front_main() {
  std::string input = read_all(0);
  const auto conf = nlohmann::json::parse(input, nullptr, false);
  const char* command = std::getenv("CNI_COMMAND");
  const bool forward = command != nullptr && (std::strcmp(command, "ADD") == 0 ||
                                              std::strcmp(command, "DEL") == 0);
  const std::string dir = forward ? agent_dir(conf) : "";
  if (dir.empty()) return exec_local(input);

  agent::PluginCall call;
  for (const char* name : kForwarded) {
    if (const char* v = std::getenv(name)) call.env.emplace(name, v);
  }
  call.stdin_bytes = std::move(input);
  auto reply = agent::call_agent(dir, call, kAgentTimeout);
  if (!reply) return print_error(reply.error(), call.stdin_bytes);
  if (!*reply) return exec_local(call.stdin_bytes);
  write_all(1, (*reply)->out);
  write_all(2, (*reply)->err);
  return (*reply)->exit_code;
}

}  // namespace weir::ipam
