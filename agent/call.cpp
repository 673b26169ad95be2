#include "agent/call.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "lib/cni/fd.hpp"
#include "lib/store/paths.hpp"

namespace weir::agent {

namespace {

using Fd = UniqueFd;

// Writes all of data before the deadline; false if the peer went away or time ran out.
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
    if (::poll(&pf, 1, remaining_ms(deadline)) <= 0) return false;
  }
  return true;
}

// Reads up to EOF. Fails on a timeout; a reset counts as EOF (what came before it stands).
Expected<std::string> read_to_eof(int fd, Clock::time_point deadline) {
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
    if (r == 0) return fail(cni::try_again_later("weir-agent took the weir-ipam call and did not answer in time"));
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

Expected<std::optional<PluginReply>> call_agent(std::string_view data_dir, const PluginCall& call,
                                                std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const Paths p = paths_for(data_dir);
  // Non-blocking, so that a full queue (EAGAIN) sends the call back to the caller instead of
  // waiting on an agent that may be stuck.
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return std::optional<PluginReply>();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (p.socket.size() >= sizeof(addr.sun_path)) return std::optional<PluginReply>();
  std::memcpy(addr.sun_path, p.socket.c_str(), p.socket.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return std::optional<PluginReply>();
  }
  std::string request = "ipam1 " + netns_id() + "\n";
  for (const auto& [name, value] : call.env) {
    request.append(name).append("=").append(value).push_back('\0');
  }
  request.push_back('\0');
  request += call.stdin_bytes;
  // Until the whole request and its EOF are sent the agent cannot run it: it reads to EOF.
  if (!send_all(fd.get(), request, deadline) || ::shutdown(fd.get(), SHUT_WR) != 0) {
    return std::optional<PluginReply>();
  }
  auto got = read_to_eof(fd.get(), deadline);
  if (!got) return fail(got.error());
  // Nothing, or no "done": it did not run the call (exiting, another netns, too old), or it
  // died running it, in which case nothing more of it runs there. Either way ADD and DEL are
  // safe to run here: both are idempotent per attachment.
  return parse_reply(*got);
}

}  // namespace weir::agent
