#include "agent/call.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "lib/cni/fd.hpp"
#include "lib/store/paths.hpp"

namespace weir::agent {

namespace {

using Fd = UniqueFd;

cni::Error no_answer(AgentPlugin plugin) {
  return cni::try_again_later("weir-agent has the " + std::string(plugin.name) +
                              " call and did not answer in time");
}

// Reads up to EOF. Fails on a timeout; a reset counts as EOF (what came before it stands).
Expected<std::string> read_to_eof(int fd, Clock::time_point deadline, AgentPlugin plugin) {
  std::string got;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) return got;
    if (errno == EINTR) continue;
    pollfd pf{fd, POLLIN, 0};
    const int r = ::poll(&pf, 1, remaining_ms(deadline));
    if (r == 0) return fail(no_answer(plugin));
    if (r < 0 && errno != EINTR) {
      return fail(cni::sys_error(errno, "wait for weir-agent", cni::Code::kIoFailure));
    }
  }
}

// "done <exit code> <stdout bytes>\n" stdout stderr; anything else means the agent did not
// run the call.
std::optional<PluginReply> parse_reply(const std::string& got) {
  const size_t eol = got.find('\n');
  if (got.rfind("done ", 0) != 0 || eol == std::string::npos) return std::nullopt;
  int code = 0;
  size_t out_len = 0;
  if (std::sscanf(got.c_str(), "done %d %zu", &code, &out_len) != 2) return std::nullopt;
  if (out_len > got.size() - eol - 1) return std::nullopt;
  PluginReply r{.exit_code = code};
  r.out = got.substr(eol + 1, out_len);
  r.err = got.substr(eol + 1 + out_len);
  return r;
}

}  // namespace

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
  return {.socket = store::data_file(data_dir, "agent.sock"),
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

namespace {

// Connects without blocking on a full queue: that agent is busy, not gone, so we wait for room
// until the deadline. nullopt: no agent listens (or the path cannot be a socket).
Expected<std::optional<Fd>> connect_agent(const std::string& path, Clock::time_point deadline,
                                          AgentPlugin plugin) {
  const auto addr = socket_address(path);
  if (!addr) return std::optional<Fd>();
  int pause_us = 500;
  for (;;) {
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) return std::optional<Fd>();
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) == 0) {
      return std::optional<Fd>(std::move(fd));
    }
    if (errno != EAGAIN) return std::optional<Fd>();  // ENOENT, ECONNREFUSED: none listens
    if (Clock::now() >= deadline) return fail(no_answer(plugin));
    ::usleep(pause_us);
    pause_us = std::min(pause_us * 2, 50'000);
  }
}

}  // namespace

Expected<std::optional<PluginReply>> call_agent(std::string_view data_dir, AgentPlugin plugin,
                                                const PluginCall& call,
                                                std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto fd = connect_agent(paths_for(data_dir).socket, deadline, plugin);
  if (!fd) return fail(fd.error());
  if (!*fd) return std::optional<PluginReply>();
  std::string body;
  for (const auto& [name, value] : call.env) {
    body.append(name).append("=").append(value).push_back('\0');
  }
  body.push_back('\0');
  body += call.stdin_bytes;
  const std::string head = std::string(plugin.request) + " " + namespaces_id() + " " +
                           std::to_string(body.size()) + "\n";
  if (!send_all((*fd)->get(), head + body, deadline)) {
    // Reset: the agent is exiting (it finished what it had first). Out of time: it is stuck.
    if (errno == ETIMEDOUT) return fail(no_answer(plugin));
    return std::optional<PluginReply>();
  }
  // Not needed by the length-framed request; an agent of the first build read up to EOF.
  ::shutdown((*fd)->get(), SHUT_WR);
  auto got = read_to_eof((*fd)->get(), deadline, plugin);
  if (!got) return fail(got.error());
  // "done" cut short: it ran the call and its answer was lost (it died replying). Running it
  // here would run it twice; the runtime may try again (ADD and DEL are idempotent).
  if (got->starts_with("done ") && !parse_reply(*got)) {
    return fail(cni::try_again_later("weir-agent ran the " + std::string(plugin.name) +
                                     " call; its answer was cut short"));
  }
  // Anything else but "done": it did not run the call, or it died before answering, in which
  // case nothing more of it runs there. Either way the call may run here.
  return parse_reply(*got);
}

}  // namespace weir::agent
