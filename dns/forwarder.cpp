#include "dns/forwarder.hpp"

#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace weir::dns {

namespace {

uint32_t random_seed() noexcept {
  uint32_t seed = 0;
  if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
    seed = static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return seed;
}

bool refused_or_failed(Rcode rc) noexcept {
  return rc == Rcode::kServFail || rc == Rcode::kRefused || rc == Rcode::kNotImp;
}

}  // namespace

Forwarder::Forwarder(int epoll_fd, uint8_t tag, ForwardOptions options, ForwardSink& sink)
    : epoll_fd_(epoll_fd), tag_(tag), options_(options), sink_(sink), rng_(random_seed()) {}

Forwarder::~Forwarder() {
  for (auto& j : jobs_) {
    for (auto& a : j.attempts) close_attempt(a);
  }
}

uint64_t Forwarder::tag_of(uint32_t slot, uint8_t a) const noexcept {
  return uint64_t{tag_} << 56 | uint64_t{a} << 48 | uint64_t{jobs_[slot].gen} << 32 | slot;
}

void Forwarder::close_attempt(Attempt& at) noexcept {
  if (at.fd >= 0) close(at.fd);  // also leaves the epoll set: the fd is not shared
  at.fd = -1;
  at.state = State::kFailed;
}

Forwarder::Clock::time_point Forwarder::next_deadline() const noexcept {
  auto t = Clock::time_point::max();
  if (!attempt_timers_.empty()) t = std::min(t, attempt_timers_.front().at);
  if (!deadline_timers_.empty()) t = std::min(t, deadline_timers_.front().at);
  return t;
}

bool Forwarder::start(std::span<const uint8_t> query, std::span<const SocketAddr> upstreams,
                      uint16_t limit, const ReplyTo& to, Clock::time_point now) noexcept {
  if (upstreams.empty() || in_flight_ >= options_.max_in_flight) return false;
  auto m = parse(query);
  if (!m) return false;
  // The buffers are sized on the first forwarded query: 128 KiB that a worker answering only
  // from the zone never needs.
  if (buf_.empty()) {
    buf_.resize(kMaxMessage + 1);
    out_.resize(kMaxMessage);
  }
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(jobs_.size());
    jobs_.emplace_back();
  }
  Job& j = jobs_[slot];
  j.used = true;
  ++j.gen;
  j.to = to;
  j.transport = to.transport;
  j.client_id = m->header.id;
  j.limit = limit;
  j.question = *m;
  j.query.assign(query.begin(), query.end());
  put16(j.query.data(), static_cast<uint16_t>(rng_()));
  if (j.transport == Transport::kUdp && m->edns.present) {
    // Ask for no more than we will relay, so the upstream truncates instead of us.
    put16(j.query.data() + m->edns.offset + 3, udp_limit(m->edns));
  }
  j.nupstreams = 0;
  for (const auto& u : upstreams) {
    if (j.nupstreams < kAttempts) j.upstreams[j.nupstreams++] = u;
  }
  j.next = 0;
  for (auto& a : j.attempts) a.state = State::kIdle;
  j.deadline = now + options_.timeout;
  ++in_flight_;
  deadline_timers_.push_back({j.deadline, slot, j.gen});
  if (!launch(slot, now)) finish(slot, {});
  return true;
}

bool Forwarder::launch(uint32_t slot, Clock::time_point now) noexcept {
  Job& j = jobs_[slot];
  while (j.next < j.nupstreams) {
    const uint8_t a = j.next++;
    Attempt& at = j.attempts[a];
    sockaddr_storage ss;
    const socklen_t len = to_sockaddr(j.upstreams[a], &ss);
    const bool udp = j.transport == Transport::kUdp;
    at.fd =
        socket(ss.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (at.fd < 0) {
      at.state = State::kFailed;
      continue;
    }
    const int rc = connect(at.fd, reinterpret_cast<const sockaddr*>(&ss), len);
    uint32_t events = EPOLLIN;
    if (udp) {
      if (rc < 0 || send(at.fd, j.query.data(), j.query.size(), 0) < 0) {
        close_attempt(at);
        continue;
      }
      at.state = State::kReceiving;
    } else {
      if (rc < 0 && errno != EINPROGRESS) {
        close_attempt(at);
        continue;
      }
      at.state = rc == 0 ? State::kSending : State::kConnecting;
      at.sent = 0;
      at.in.clear();
      events = EPOLLOUT | EPOLLIN;
    }
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag_of(slot, a);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, at.fd, &ev) < 0) {
      close_attempt(at);
      continue;
    }
    j.attempt_deadline = now + options_.attempt;
    if (j.next < j.nupstreams) attempt_timers_.push_back({j.attempt_deadline, slot, j.gen});
    return true;
  }
  return false;
}

void Forwarder::attempt_failed(uint32_t slot, uint8_t a, Clock::time_point now) noexcept {
  Job& j = jobs_[slot];
  close_attempt(j.attempts[a]);
  if (launch(slot, now)) return;
  for (const auto& at : j.attempts) {
    if (at.fd >= 0) return;  // another upstream may still answer
  }
  finish(slot, {});
}

void Forwarder::on_answer(uint32_t slot, std::span<const uint8_t> answer, uint8_t a,
                          Clock::time_point now) noexcept {
  Job& j = jobs_[slot];
  const bool tcp = j.transport == Transport::kTcp;
  auto m = parse(answer);
  const bool matches = m && m->header.qr() && m->header.id == get16(j.query.data()) &&
                       m->question.name == j.question.question.name &&
                       m->question.type == j.question.question.type &&
                       m->question.klass == j.question.question.klass;
  if (!matches) {
    // UDP: someone else's datagram (or a spoof): keep waiting. TCP: a broken upstream.
    if (tcp) attempt_failed(slot, a, now);
    return;
  }
  if (refused_or_failed(m->header.rcode())) {
    bool others = j.next < j.nupstreams;
    for (uint8_t i = 0; i < kAttempts; ++i) {
      if (i != a && j.attempts[i].fd >= 0) others = true;
    }
    if (others) {
      attempt_failed(slot, a, now);
      return;
    }
  }
  finish(slot, answer);
}

void Forwarder::finish(uint32_t slot, std::span<const uint8_t> reply) noexcept {
  Job& j = jobs_[slot];
  size_t size = 0;
  if (!reply.empty()) size = relay_reply(reply, j.client_id, j.limit, out_);
  const bool failed = size == 0;
  if (failed) {
    size = error_reply(j.query, Rcode::kServFail, out_);
    if (size >= kHeaderSize) put16(out_.data(), j.client_id);
  }
  for (auto& a : j.attempts) close_attempt(a);
  j.used = false;
  ++j.gen;  // stale timers and events no longer match
  free_.push_back(slot);
  --in_flight_;
  if (size) sink_.deliver(j.to, std::span<const uint8_t>(out_.data(), size), failed);
}

void Forwarder::on_event(uint64_t data, uint32_t events, Clock::time_point now) noexcept {
  const auto slot = static_cast<uint32_t>(data);
  const auto gen = static_cast<uint16_t>(data >> 32);
  const auto a = static_cast<uint8_t>(data >> 48);
  if (slot >= jobs_.size() || a >= kAttempts) return;
  Job& j = jobs_[slot];
  if (!j.used || j.gen != gen || j.attempts[a].fd < 0) return;
  if (j.transport == Transport::kTcp) return tcp_io(slot, a, events, now);
  for (;;) {
    const ssize_t n = recv(j.attempts[a].fd, buf_.data(), buf_.size(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return attempt_failed(slot, a, now);  // ECONNREFUSED: nobody listens there
    }
    on_answer(slot, std::span<const uint8_t>(buf_.data(), static_cast<size_t>(n)), a, now);
    if (!j.used || j.gen != gen || j.attempts[a].fd < 0) return;
  }
}

void Forwarder::tcp_io(uint32_t slot, uint8_t a, uint32_t events, Clock::time_point now) noexcept {
  Job& j = jobs_[slot];
  Attempt& at = j.attempts[a];
  if (at.state == State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(at.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
      return attempt_failed(slot, a, now);
    }
    if (!(events & EPOLLOUT)) return;
    at.state = State::kSending;
  }
  if (at.state == State::kSending) {
    uint8_t prefix[2];
    put16(prefix, static_cast<uint16_t>(j.query.size()));
    iovec iov[2];
    size_t n = 0;
    if (at.sent < 2) iov[n++] = {prefix + at.sent, 2 - at.sent};
    const size_t qoff = at.sent < 2 ? 0 : at.sent - 2;
    iov[n++] = {j.query.data() + qoff, j.query.size() - qoff};
    const ssize_t w = writev(at.fd, iov, static_cast<int>(n));
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return attempt_failed(slot, a, now);
    }
    at.sent += static_cast<size_t>(w);
    if (at.sent < j.query.size() + 2) return;
    at.state = State::kReceiving;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag_of(slot, a);
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, at.fd, &ev);
  }
  if (at.state != State::kReceiving) return;
  for (;;) {
    const ssize_t n = read(at.fd, buf_.data(), buf_.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return attempt_failed(slot, a, now);
    }
    if (n == 0) return attempt_failed(slot, a, now);  // closed before a whole answer
    at.in.insert(at.in.end(), buf_.data(), buf_.data() + n);
    if (at.in.size() >= 2) {
      const size_t want = get16(at.in.data());
      if (at.in.size() >= 2 + want) {
        return on_answer(slot, std::span<const uint8_t>(at.in.data() + 2, want), a, now);
      }
    }
  }
}

void Forwarder::expire(Clock::time_point now) noexcept {
  while (!attempt_timers_.empty() && attempt_timers_.front().at <= now) {
    const Timer t = attempt_timers_.front();
    attempt_timers_.pop_front();
    Job& j = jobs_[t.slot];
    if (j.used && j.gen == t.gen) launch(t.slot, now);  // ask the next one too
  }
  while (!deadline_timers_.empty() && deadline_timers_.front().at <= now) {
    const Timer t = deadline_timers_.front();
    deadline_timers_.pop_front();
    Job& j = jobs_[t.slot];
    if (j.used && j.gen == t.gen) finish(t.slot, {});
  }
}

}  // namespace weir::dns
