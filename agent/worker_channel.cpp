#include "agent/worker_channel.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace weir::agent::channel {

Pair make_pair() {
  Pair pair;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return pair;
  pair.supervisor.reset(fds[0]);
  pair.worker.reset(fds[1]);
  return pair;
}

bool send_message(int channel, std::string_view text) {
  for (;;) {
    if (::send(channel, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size())) {
      return true;
    }
    if (errno != EINTR) return false;
  }
}

std::optional<std::string> receive_message(int channel, bool wait, bool* closed) {
  char buf[4096];
  if (closed != nullptr) *closed = false;
  for (;;) {
    const ssize_t n = ::recv(channel, buf, sizeof(buf), wait ? 0 : MSG_DONTWAIT);
    if (n > 0) return std::string(buf, static_cast<size_t>(n));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && !wait) return std::nullopt;
    if (closed != nullptr) *closed = true;
    return std::nullopt;
  }
}

bool send_fd(int channel, int fd) {
  char byte = 'c';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  for (;;) {
    if (::sendmsg(channel, &msg, MSG_NOSIGNAL) == 1) return true;
    if (errno != EINTR) return false;
  }
}

std::optional<UniqueFd> receive_fd(int channel) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  while ((n = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n <= 0) return std::nullopt;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
      return UniqueFd(fd);
    }
  }
  return UniqueFd();
}

}  // namespace weir::agent::channel
