// Forwarding of names that are not weir's to upstream resolvers: asynchronous, on the worker's
// epoll, over the client's transport (UDP stays UDP, TCP stays TCP). Each forwarded query gets
// a fresh socket per upstream (so a kernel-chosen random source port) and a random id, and an
// answer is taken only when id and question both match (RFC 5452 9.1). Upstreams are tried in
// order: the next one after `attempt`, or at once when one fails (ICMP unreachable, SERVFAIL,
// REFUSED, connection reset); after `timeout` in all the client gets SERVFAIL.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

#include "dns/responder.hpp"
#include "dns/sockaddr.hpp"

namespace weir::dns {

// Where a forwarded query's answer goes back to.
struct ReplyTo {
  Transport transport = Transport::kUdp;
  uint32_t listener = 0;    // the index of the listener the query came in on
  sockaddr_storage peer{};  // UDP: the client
  socklen_t peer_len = 0;
  net::IpAddr local{};  // UDP on a wildcard socket: the address to answer from
  int ifindex = 0;
  bool pktinfo = false;
  uint32_t conn = 0;  // TCP: the connection's slot and serial
  uint32_t conn_serial = 0;
};

class ForwardSink {
 public:
  // `reply` is ready to send to the client (its id, cut to its limit): the upstream's answer,
  // or SERVFAIL.
  virtual void deliver(const ReplyTo& to, std::span<const uint8_t> reply, bool failed) noexcept = 0;

 protected:
  ~ForwardSink() = default;
};

struct ForwardOptions {
  std::chrono::milliseconds timeout{2500};  // in all, per query
  std::chrono::milliseconds attempt{800};   // before the next upstream is asked too
  size_t max_in_flight = 2048;
};

class Forwarder {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint8_t kAttempts = 3;

  // Registers its sockets on `epoll_fd` with data whose top byte is `tag`; the owner passes
  // those events to on_event().
  Forwarder(int epoll_fd, uint8_t tag, ForwardOptions options, ForwardSink& sink);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // false: too many in flight, or the query does not parse; the caller answers SERVFAIL.
  bool start(std::span<const uint8_t> query, std::span<const SocketAddr> upstreams, uint16_t limit,
             const ReplyTo& to, Clock::time_point now) noexcept;
  void on_event(uint64_t data, uint32_t events, Clock::time_point now) noexcept;
  // Moves on every query whose attempt or total deadline has passed.
  void expire(Clock::time_point now) noexcept;
  // The next deadline to wake up for (time_point::max() when idle).
  Clock::time_point next_deadline() const noexcept;
  size_t in_flight() const noexcept { return in_flight_; }

 private:
  enum class State : uint8_t { kIdle, kConnecting, kSending, kReceiving, kFailed };
  struct Attempt {
    int fd = -1;
    State state = State::kIdle;
    size_t sent = 0;          // TCP: bytes of length + query written
    std::vector<uint8_t> in;  // TCP: bytes read
  };
  struct Job {
    bool used = false;
    uint16_t gen = 0;
    ReplyTo to;
    Transport transport = Transport::kUdp;
    uint16_t client_id = 0;
    uint16_t limit = 0;
    std::vector<uint8_t> query;  // as sent upstream: our id, EDNS size capped
    Message question;            // what an answer must match
    std::array<SocketAddr, kAttempts> upstreams{};
    uint8_t nupstreams = 0;
    uint8_t next = 0;  // the next upstream to try
    std::array<Attempt, kAttempts> attempts{};
    Clock::time_point attempt_deadline{};
    Clock::time_point deadline{};
  };
  struct Timer {
    Clock::time_point at;
    uint32_t slot;
    uint16_t gen;
  };

  bool launch(uint32_t slot, Clock::time_point now) noexcept;  // next upstream; false if none
  void attempt_failed(uint32_t slot, uint8_t a, Clock::time_point now) noexcept;
  void on_answer(uint32_t slot, std::span<const uint8_t> answer, uint8_t a,
                 Clock::time_point now) noexcept;
  void finish(uint32_t slot, std::span<const uint8_t> reply) noexcept;  // empty: SERVFAIL
  void close_attempt(Attempt& at) noexcept;
  void tcp_io(uint32_t slot, uint8_t a, uint32_t events, Clock::time_point now) noexcept;
  uint64_t tag_of(uint32_t slot, uint8_t a) const noexcept;

  int epoll_fd_;
  uint8_t tag_;
  ForwardOptions options_;
  ForwardSink& sink_;
  std::vector<Job> jobs_;
  std::vector<uint32_t> free_;
  size_t in_flight_ = 0;
  std::deque<Timer> attempt_timers_;  // FIFO: every job's attempt lasts the same
  std::deque<Timer> deadline_timers_;
  std::mt19937 rng_;
  std::vector<uint8_t> buf_;  // one upstream answer (64 KiB); empty until the first start()
  std::vector<uint8_t> out_;  // one reply to a client
};

}  // namespace weir::dns
