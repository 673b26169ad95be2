#include "agent/client/call.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/store/paths.hpp"

namespace weir::agent {

int remaining_ms(Clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

bool send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return false;
    pollfd pf{fd, POLLOUT, 0};
    const int r = ::poll(&pf, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      errno = r == 0 ? ETIMEDOUT : errno;
      return false;
    }
  }
  return true;
}

std::optional<sockaddr_un> socket_address(std::string_view path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return std::nullopt;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

std::string sibling_binary(std::string_view name) {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  const std::string self = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  const size_t slash = self.rfind('/');
  return (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/" +
         std::string(name);
}

Paths paths_for(std::string_view data_dir) {
  return {.socket = store::data_file(data_dir, proto::kSocketFile),
          .lock = store::data_file(data_dir, "agent.lock"),
          .start_lock = store::data_file(data_dir, "agent.start.lock"),
          .log = store::data_file(data_dir, "agent.log")};
}

std::string netns_id() {
  struct stat st {};
  if (::stat("/proc/thread-self/ns/net", &st) != 0) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

std::string namespaces_id() {
  struct stat mnt {};
  const std::string net = netns_id();
  if (net.empty() || ::stat("/proc/thread-self/ns/mnt", &mnt) != 0) return "";
  return net + "," + std::to_string(mnt.st_dev) + ":" + std::to_string(mnt.st_ino);
}

std::string agent_dir_of(const AgentPlugin& plugin, std::string_view config) {
  proto::Text dir;
  const auto conf = proto::Json::parse({config.data(), config.size()});
  return plugin.agent_dir(conf, dir) ? std::string(dir.data, dir.size) : std::string();
}

}  // namespace weir::agent
