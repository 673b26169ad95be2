#include "dns/server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "dns/forwarder.hpp"
#include "dns/responder.hpp"

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

namespace weir::dns {

namespace {

using Clock = std::chrono::steady_clock;

// The top byte of an epoll event's data says what the event is for.
enum Tag : uint8_t { kStopTag = 1, kUdpTag = 2, kListenTag = 3, kConnTag = 4, kForwardTag = 5 };

uint64_t make_tag(uint8_t kind, uint32_t index, uint32_t gen = 0) {
  return uint64_t{kind} << 56 | uint64_t{gen & 0xffffff} << 32 | index;
}

constexpr size_t kBatch = 32;               // datagrams per recvmmsg/sendmmsg
constexpr int kBatchesPerWake = 8;          // then the other sockets get their turn
constexpr size_t kCtlSize = 64;             // room for one in6_pktinfo control message
constexpr size_t kMaxTcpPending = 32;       // forwarded queries in flight per TCP connection
constexpr size_t kMaxTcpBacklog = 1 << 20;  // unsent bytes before a non-reading client is cut
constexpr auto kSweepEvery = std::chrono::milliseconds(500);
constexpr uint32_t kNoSlot = UINT32_MAX;
// A query: a few hundred bytes even with EDNS options; longer ones arrive cut and are dropped.
// Each worker holds kBatch of these.
constexpr size_t kRecvSize = kMaxUdpPayload;

struct BoundListener {
  int udp = -1;
  int tcp = -1;
  SocketAddr udp_addr{};
  SocketAddr tcp_addr{};
  bool udp_wildcard = false;  // bound to 0.0.0.0/::: find the local address per packet
  bool udp_pktinfo = false;   // IP_PKTINFO on: the arrival interface of each datagram
  bool tcp_wildcard = false;
  std::string container_id;
};

struct alignas(64) Counters {
  std::atomic<uint64_t> udp_queries{0}, tcp_queries{0}, answers{0}, nodata{0}, nxdomain{0},
      refused{0}, forwarded{0}, servfail{0}, formerr{0}, dropped{0}, truncated{0};
};

void bump(std::atomic<uint64_t>& c) noexcept {
  c.fetch_add(1, std::memory_order_relaxed);
}

// A burst of 5 messages, then one per second; the count of the ones held back goes with the
// next one let through.
class LogLimiter {
 public:
  bool allow(uint64_t& suppressed) {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - refilled_).count();
    if (secs > 0) {
      tokens_ = std::min<int64_t>(5, tokens_ + secs);
      refilled_ = now;
    }
    if (tokens_ == 0) {
      ++suppressed_;
      return false;
    }
    --tokens_;
    suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  std::mutex mu_;
  int64_t tokens_ = 5;
  uint64_t suppressed_ = 0;
  Clock::time_point refilled_ = Clock::now();
};

int family_of(const SocketAddr& a) {
  return a.ip.is_v4() ? AF_INET : AF_INET6;
}

void set_pktinfo_option(int fd, int family) {
  const int one = 1;
  if (family == AF_INET) {
    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
  } else {
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
  }
}

Expected<int> open_socket(const SocketAddr& a, int type, bool freebind) {
  const char* kind = type == SOCK_DGRAM ? "udp" : "tcp";
  const int family = family_of(a);
  const int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fail(cni::sys_error(errno, std::string("create ") + kind + " socket for " + a.str()));
  const int one = 1;
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (freebind) {
    if (family == AF_INET) {
      setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
    } else {
      setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
    }
  }
  if (type == SOCK_DGRAM) {
    const int size = 4 << 20;  // absorbs bursts; capped by net.core.rmem_max
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  sockaddr_storage ss;
  const socklen_t len = to_sockaddr(a, &ss);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    const int err = errno;
    close(fd);
    return fail(cni::sys_error(err, std::string("bind ") + kind + " " + a.str()));
  }
  if (type == SOCK_STREAM && listen(fd, 256) < 0) {
    const int err = errno;
    close(fd);
    return fail(cni::sys_error(err, std::string("listen tcp ") + a.str()));
  }
  // The arrival interface of every datagram (and its local address on a wildcard socket).
  if (type == SOCK_DGRAM) set_pktinfo_option(fd, family);
  return fd;
}

Expected<SocketAddr> local_address(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) {
    return fail(cni::sys_error(errno, "getsockname"));
  }
  auto a = from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  if (!a) return fail(cni::invalid_config("socket " + std::to_string(fd) + " is not an IP socket"));
  return *a;
}

// Takes over a socket the caller bound (e.g. inside a container's netns).
Expected<SocketAddr> adopt_socket(int fd, int type) {
  int actual = 0;
  socklen_t len = sizeof(actual);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &actual, &len) < 0) {
    return fail(cni::sys_error(errno, "socket " + std::to_string(fd), cni::Code::kInvalidConfig));
  }
  if (actual != type) {
    return fail(cni::invalid_config("socket " + std::to_string(fd) + " is not a " +
                                    (type == SOCK_DGRAM ? "UDP" : "TCP") + " socket"));
  }
  auto addr = local_address(fd);
  if (!addr) return fail(std::move(addr.error()));
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return fail(cni::sys_error(errno, "set socket " + std::to_string(fd) + " non-blocking"));
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  if (type == SOCK_STREAM && listen(fd, 256) < 0) {
    return fail(cni::sys_error(errno, "listen tcp " + addr->str()));
  }
  if (type == SOCK_DGRAM) set_pktinfo_option(fd, family_of(*addr));
  return *addr;
}

// The destination address of a datagram received on a wildcard socket.
void read_pktinfo(const msghdr& h, net::IpAddr& local, int& ifindex) noexcept {
  for (cmsghdr* c = CMSG_FIRSTHDR(const_cast<msghdr*>(&h)); c;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
      local = net::IpAddr::from_bytes(net::Family::kV4, &pi.ipi_addr);
      ifindex = pi.ipi_ifindex;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
      local = net::IpAddr::from_bytes(net::Family::kV6, &pi.ipi6_addr);
      ifindex = static_cast<int>(pi.ipi6_ifindex);
    }
  }
}

// Answers from the address the query was sent to (a wildcard socket would pick its own).
void write_pktinfo(msghdr& h, char* ctl, const net::IpAddr& local, int ifindex) noexcept {
  std::memset(ctl, 0, kCtlSize);
  h.msg_control = ctl;
  cmsghdr* c;
  if (local.is_v4()) {
    h.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
    c = CMSG_FIRSTHDR(&h);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
    in_pktinfo pi{};
    std::memcpy(&pi.ipi_spec_dst, local.data(), 4);
    std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
  } else {
    h.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
    c = CMSG_FIRSTHDR(&h);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
    in6_pktinfo pi{};
    std::memcpy(&pi.ipi6_addr, local.data(), 16);
    pi.ipi6_ifindex = static_cast<unsigned>(ifindex);
    std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
  }
}

class Worker;

}  // namespace

struct Server::Impl {
  ServerOptions options;
  std::vector<BoundListener> listeners;
  // The current zone, behind a mutex that a worker takes once per swap (zone_gen says when),
  // for one pointer copy. Not std::atomic<std::shared_ptr>: GCC 12's load() unlocks with a
  // relaxed store, so its read of the pointer is not ordered before the next store's write
  // (ThreadSanitizer reports it; google/sanitizers#1558), a real race on weak memory (aarch64).
  std::mutex zone_mu;
  std::shared_ptr<const Zone> zone;
  std::atomic<uint64_t> zone_gen{0};

  std::shared_ptr<const Zone> current_zone() noexcept {
    std::lock_guard hold(zone_mu);
    return zone;
  }
  int stop_fd = -1;
  std::vector<std::unique_ptr<Counters>> counters;  // outlive the workers: stats after stop()
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  LogLimiter limiter;

  ~Impl();
  void stop() noexcept;

  void log(LogLevel level, std::string_view what) {
    if (!options.log) return;
    uint64_t suppressed = 0;
    if (!limiter.allow(suppressed)) return;
    std::string msg(what);
    if (suppressed) msg += " (" + std::to_string(suppressed) + " similar messages suppressed)";
    options.log(level, msg);
  }
};

namespace {

class Worker final : public ForwardSink {
 public:
  Worker(Server::Impl& s, Counters& c) : s_(s), c_(c) {}
  ~Worker() {
    fwd_.reset();
    for (auto& conn : conns_) {
      if (conn.fd >= 0) close(conn.fd);
    }
    if (ep_ >= 0) close(ep_);
  }

  Expected<void> init() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) return fail(cni::sys_error(errno, "epoll_create1"));
    auto add = [&](int fd, uint32_t events, uint64_t data) -> Expected<void> {
      epoll_event ev{};
      ev.events = events;
      ev.data.u64 = data;
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0)
        return fail(cni::sys_error(errno, "epoll_ctl"));
      return {};
    };
    if (auto r = add(s_.stop_fd, EPOLLIN, make_tag(kStopTag, 0)); !r) return r;
    for (uint32_t i = 0; i < s_.listeners.size(); ++i) {
      const auto& l = s_.listeners[i];
      // EPOLLEXCLUSIVE: one worker wakes per datagram or connection, not all of them.
      if (l.udp >= 0) {
        if (auto r = add(l.udp, EPOLLIN | EPOLLEXCLUSIVE, make_tag(kUdpTag, i)); !r) return r;
      }
      if (l.tcp >= 0) {
        if (auto r = add(l.tcp, EPOLLIN | EPOLLEXCLUSIVE, make_tag(kListenTag, i)); !r) return r;
      }
    }
    fwd_ = std::make_unique<Forwarder>(ep_, kForwardTag,
                                       ForwardOptions{.timeout = s_.options.forward_timeout,
                                                      .attempt = s_.options.forward_attempt,
                                                      .max_in_flight = s_.options.max_forwards},
                                       *this);
    return {};
  }

  void run() noexcept {
    std::array<epoll_event, 64> events;
    auto next_sweep = Clock::now() + kSweepEvery;
    for (;;) {
      auto now = Clock::now();
      auto wake = std::min(fwd_->next_deadline(), next_sweep);
      int timeout = 1000;
      if (wake <= now) {
        timeout = 0;
      } else if (wake - now < std::chrono::seconds(1)) {
        timeout =
            static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wake - now).count());
      }
      const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout);
      if (n < 0 && errno != EINTR) return;
      now = Clock::now();
      refresh_zone();
      for (int i = 0; i < n; ++i) {
        const uint64_t data = events[i].data.u64;
        const auto index = static_cast<uint32_t>(data);
        switch (static_cast<uint8_t>(data >> 56)) {
          case kStopTag:
            return;
          case kUdpTag:
            on_udp(index, now);
            break;
          case kListenTag:
            on_accept(index, now);
            break;
          case kConnTag:
            on_conn(index, static_cast<uint32_t>(data >> 32) & 0xffffff, events[i].events, now);
            break;
          case kForwardTag:
            fwd_->on_event(data, events[i].events, now);
            break;
          default:
            break;
        }
      }
      fwd_->expire(now);
      if (now >= next_sweep) {
        sweep(now);
        next_sweep = now + kSweepEvery;
      }
    }
  }

  void deliver(const ReplyTo& to, std::span<const uint8_t> reply, bool failed) noexcept override {
    if (failed) bump(c_.servfail);
    if (to.transport == Transport::kUdp) {
      const BoundListener& l = s_.listeners[to.listener];
      iovec iov{const_cast<uint8_t*>(reply.data()), reply.size()};
      msghdr h{};
      sockaddr_storage peer = to.peer;
      h.msg_name = &peer;
      h.msg_namelen = to.peer_len;
      h.msg_iov = &iov;
      h.msg_iovlen = 1;
      alignas(cmsghdr) char ctl[kCtlSize];
      if (l.udp_wildcard) write_pktinfo(h, ctl, to.local, to.ifindex);
      if (sendmsg(l.udp, &h, MSG_DONTWAIT) < 0) bump(c_.dropped);
      return;
    }
    if (to.conn >= conns_.size()) return;
    Conn& conn = conns_[to.conn];
    if (conn.fd < 0 || conn.gen != to.conn_serial) return;  // the client went away
    --conn.pending;
    append_frame(conn, reply);
    flush(to.conn);
  }

 private:
  struct Conn {
    int fd = -1;
    uint32_t gen = 0;
    uint32_t listener = 0;
    net::IpAddr peer{};
    net::IpAddr local{};
    std::vector<uint8_t> in;
    std::vector<uint8_t> out;
    size_t out_off = 0;
    Clock::time_point last{};   // accepted, or its last complete query: bytes do not count
    Clock::time_point begun{};  // the first byte of the message in `in` came
    uint64_t useful = 0;        // the order of `last` (one clock reading serves many)
    uint32_t pending = 0;       // forwarded queries not answered yet
    bool eof = false;      // the client closed its side: answer what is pending, then close
    bool want_out = false;
  };

  void refresh_zone() noexcept {
    const uint64_t gen = s_.zone_gen.load(std::memory_order_acquire);
    if (gen != zone_gen_) {
      zone_ = s_.current_zone();  // the old one is let go outside the lock
      zone_gen_ = gen;
    }
  }

  void count(const Outcome& o, Transport t) noexcept {
    bump(t == Transport::kUdp ? c_.udp_queries : c_.tcp_queries);
    if (o.truncated) bump(c_.truncated);
    switch (o.action) {
      case Outcome::Action::kDrop:
        bump(c_.dropped);
        return;
      case Outcome::Action::kForward:
        return;  // counted when sent or failed
      case Outcome::Action::kReply:
        break;
    }
    switch (o.rcode) {
      case Rcode::kNoError:
        bump(o.kind == Kind::kAnswer ? c_.answers : c_.nodata);
        break;
      case Rcode::kNxDomain:
        bump(c_.nxdomain);
        break;
      case Rcode::kRefused:
        bump(c_.refused);
        break;
      case Rcode::kFormErr:
        bump(c_.formerr);
        break;
      default:
        bump(c_.servfail);
        break;
    }
  }

  void log_bad(const net::IpAddr& peer, const Outcome& o) noexcept {
    if (!o.error || !s_.options.log) return;
    try {
      s_.log(LogLevel::kDebug,
             "dns: malformed query from " + peer.str() + ": " + std::string(describe(*o.error)));
    } catch (...) {  // logging must never take the packet path down
    }
  }

  void log_warning(std::string_view what) noexcept {
    if (!s_.options.log) return;
    try {
      s_.log(LogLevel::kWarning, what);
    } catch (...) {
    }
  }

  void on_udp(uint32_t li, Clock::time_point now) noexcept {
    const BoundListener& l = s_.listeners[li];
    for (int round = 0; round < kBatchesPerWake; ++round) {
      for (size_t i = 0; i < kBatch; ++i) {
        in_iov_[i] = {in_bufs_[i].data(), kRecvSize};
        msghdr& h = in_msgs_[i].msg_hdr;
        h.msg_name = &peers_[i];
        h.msg_namelen = sizeof(sockaddr_storage);
        h.msg_iov = &in_iov_[i];
        h.msg_iovlen = 1;
        h.msg_control = l.udp_pktinfo ? in_ctl_[i].data() : nullptr;
        h.msg_controllen = l.udp_pktinfo ? kCtlSize : 0;
        h.msg_flags = 0;
      }
      const int n = recvmmsg(l.udp, in_msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) return;
      size_t nout = 0;
      for (int i = 0; i < n; ++i) {
        const msghdr& h = in_msgs_[i].msg_hdr;
        auto peer = from_sockaddr(reinterpret_cast<const sockaddr*>(&peers_[i]), h.msg_namelen);
        if (!peer) continue;
        net::IpAddr local = l.udp_addr.ip;
        int ifindex = 0;
        if (l.udp_pktinfo) {
          net::IpAddr dst = local;
          read_pktinfo(h, dst, ifindex);
          if (l.udp_wildcard) local = dst;
        }
        const std::span<const uint8_t> query(in_bufs_[i].data(), in_msgs_[i].msg_len);
        if (h.msg_flags & MSG_TRUNC) {  // longer than any sane query
          bump(c_.udp_queries);
          bump(c_.dropped);
          continue;
        }
        const Client client{peer->ip, local, l.container_id, ifindex};
        Outcome o = responder_.respond(zone_.get(), client, Transport::kUdp, query,
                                       std::span<uint8_t>(out_bufs_[nout].data(), kMaxUdpPayload));
        count(o, Transport::kUdp);
        log_bad(peer->ip, o);
        if (o.action == Outcome::Action::kForward) {
          ReplyTo to;
          to.transport = Transport::kUdp;
          to.listener = li;
          to.peer = peers_[i];
          to.peer_len = h.msg_namelen;
          to.local = local;
          to.ifindex = ifindex;
          to.pktinfo = l.udp_wildcard;
          if (fwd_->start(query, o.upstreams, o.limit, to, now)) {
            bump(c_.forwarded);
            continue;
          }
          log_warning("dns: too many forwarded queries in flight, answering SERVFAIL");
          o.size = error_reply(query, Rcode::kServFail,
                               std::span<uint8_t>(out_bufs_[nout].data(), kMaxUdpPayload));
          o.action = Outcome::Action::kReply;
          bump(c_.servfail);
        }
        if (o.action != Outcome::Action::kReply || o.size == 0) continue;
        out_iov_[nout] = {out_bufs_[nout].data(), o.size};
        msghdr& oh = out_msgs_[nout].msg_hdr;
        oh = msghdr{};
        oh.msg_name = &peers_[i];
        oh.msg_namelen = h.msg_namelen;
        oh.msg_iov = &out_iov_[nout];
        oh.msg_iovlen = 1;
        if (l.udp_wildcard) write_pktinfo(oh, out_ctl_[nout].data(), local, ifindex);
        ++nout;
      }
      size_t sent = 0;
      while (sent < nout) {
        const int r = sendmmsg(l.udp, out_msgs_.data() + sent, static_cast<unsigned>(nout - sent),
                               MSG_DONTWAIT);
        if (r > 0) {
          sent += static_cast<size_t>(r);
        } else if (r < 0 && errno == EINTR) {
          continue;
        } else {
          bump(c_.dropped);  // this one cannot be sent (full buffer, unreachable): skip it
          ++sent;
        }
      }
      if (static_cast<size_t>(n) < kBatch) return;
    }
  }

  void on_accept(uint32_t li, Clock::time_point now) noexcept {
    const BoundListener& l = s_.listeners[li];
    for (;;) {
      sockaddr_storage ss;
      socklen_t len = sizeof(ss);
      const int fd =
          accept4(l.tcp, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      auto peer = from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
      if (!peer) {
        close(fd);
        continue;
      }
      make_room_for(peer->ip);
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      net::IpAddr local = l.tcp_addr.ip;
      if (l.tcp_wildcard) {
        if (auto a = local_address(fd)) local = a->ip;
      }
      uint32_t slot;
      if (!free_conns_.empty()) {
        slot = free_conns_.back();
        free_conns_.pop_back();
      } else {
        slot = static_cast<uint32_t>(conns_.size());
        conns_.emplace_back();
      }
      Conn& c = conns_[slot];
      c.fd = fd;
      c.gen = (c.gen + 1) & 0xffffff;
      c.listener = li;
      c.peer = peer->ip;
      c.local = local;
      c.in.clear();
      c.out.clear();
      c.out_off = 0;
      c.last = now;
      c.useful = ++useful_;
      c.begun = now;
      c.pending = 0;
      c.eof = false;
      c.want_out = false;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = make_tag(kConnTag, slot, c.gen);
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        c.fd = -1;
        free_conns_.push_back(slot);
        continue;
      }
      ++nconns_;
    }
  }

  // A new connection always gets a slot, so that holding slots cannot keep anyone out: past
  // its source's share, that source's least recently useful connection makes way; past the
  // worker's limit, the least recently useful of all (one waiting on no forwarded answer
  // first). "Useful": accepted or delivered a whole query; trickled bytes do not count.
  void make_room_for(const net::IpAddr& peer) noexcept {
    const size_t per_source = std::max<size_t>(1, s_.options.max_tcp_per_source);
    const size_t total = std::max<size_t>(1, s_.options.max_tcp_clients);
    size_t same = 0;
    uint32_t oldest_same = kNoSlot, oldest_idle = kNoSlot, oldest = kNoSlot;
    auto older = [&](uint32_t i, uint32_t than) {
      return than == kNoSlot || conns_[i].useful < conns_[than].useful;
    };
    for (uint32_t i = 0; i < conns_.size(); ++i) {
      const Conn& c = conns_[i];
      if (c.fd < 0) continue;
      if (c.peer == peer) {
        ++same;
        if (older(i, oldest_same)) oldest_same = i;
      }
      if (c.pending == 0 && older(i, oldest_idle)) oldest_idle = i;
      if (older(i, oldest)) oldest = i;
    }
    uint32_t victim = kNoSlot;
    if (same >= per_source) {
      victim = oldest_same;
      log_warning("dns: too many TCP connections from " + peer.str() + ", closing its oldest");
    } else if (nconns_ >= total) {
      victim = oldest_idle != kNoSlot ? oldest_idle : oldest;
      log_warning("dns: too many TCP clients, closing the oldest (from " +
                  conns_[victim].peer.str() + ")");
    }
    if (victim != kNoSlot) close_conn(victim);
  }

  void close_conn(uint32_t slot) noexcept {
    Conn& c = conns_[slot];
    if (c.fd < 0) return;
    close(c.fd);
    c.fd = -1;
    c.gen = (c.gen + 1) & 0xffffff;  // forwarded answers still on their way find no one
    c.in.clear();
    c.out.clear();
    free_conns_.push_back(slot);
    --nconns_;
  }

  void update_events(uint32_t slot) noexcept {
    Conn& c = conns_[slot];
    epoll_event ev{};
    ev.events = (c.eof ? 0u : uint32_t{EPOLLIN}) | (c.want_out ? uint32_t{EPOLLOUT} : 0u);
    ev.data.u64 = make_tag(kConnTag, slot, c.gen);
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void append_frame(Conn& c, std::span<const uint8_t> msg) noexcept {
    uint8_t prefix[2];
    put16(prefix, static_cast<uint16_t>(msg.size()));
    c.out.insert(c.out.end(), prefix, prefix + 2);
    c.out.insert(c.out.end(), msg.begin(), msg.end());
  }

  // Sends what is queued; closes the connection when it is done or broken.
  void flush(uint32_t slot) noexcept {
    Conn& c = conns_[slot];
    while (c.out_off < c.out.size()) {
      const ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return close_conn(slot);
      }
      c.out_off += static_cast<size_t>(n);
    }
    if (c.out.size() - c.out_off > kMaxTcpBacklog) return close_conn(slot);  // not reading
    const bool pending_out = c.out_off < c.out.size();
    if (!pending_out) {
      c.out.clear();
      c.out_off = 0;
    }
    if (c.eof && !pending_out && c.pending == 0) return close_conn(slot);
    if (pending_out != c.want_out) {
      c.want_out = pending_out;
      update_events(slot);
    }
  }

  void on_conn(uint32_t slot, uint32_t gen, uint32_t events, Clock::time_point now) noexcept {
    if (slot >= conns_.size() || conns_[slot].fd < 0 || conns_[slot].gen != gen) return;
    if (events & (EPOLLERR | EPOLLHUP)) return close_conn(slot);
    Conn& c = conns_[slot];
    if (events & EPOLLIN) {
      const bool was_empty = c.in.empty();
      uint8_t buf[16384];
      for (;;) {
        const ssize_t n = read(c.fd, buf, sizeof(buf));
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          return close_conn(slot);
        }
        if (n == 0) {
          c.eof = true;
          update_events(slot);
          break;
        }
        c.in.insert(c.in.end(), buf, buf + n);
        if (c.in.size() > 2 * (kMaxMessage + 2)) break;  // handle these first
      }
      if (was_empty && !c.in.empty()) c.begun = now;
      // Several queries per connection, pipelined (RFC 7766 6.2.1.1); forwarded ones are
      // answered when they come back, possibly out of order.
      size_t off = 0;
      while (c.in.size() - off >= 2) {
        const size_t len = get16(c.in.data() + off);
        if (c.in.size() - off < 2 + len) break;
        handle_tcp(slot, std::span<const uint8_t>(c.in.data() + off + 2, len), now);
        if (conns_[slot].fd < 0 || conns_[slot].gen != gen) return;
        off += 2 + len;
        c.last = now;
        c.useful = ++useful_;
        c.begun = now;  // what follows in `in` is the start of the next message
      }
      c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(off));
    }
    flush(slot);
  }

  void handle_tcp(uint32_t slot, std::span<const uint8_t> query, Clock::time_point now) noexcept {
    Conn& c = conns_[slot];
    const BoundListener& l = s_.listeners[c.listener];
    // No arrival interface over TCP (zone.hpp): the handshake proved the peer's route.
    const Client client{c.peer, c.local, l.container_id, 0};
    // Sized on the first TCP query: most workers only ever see UDP.
    if (tcp_out_.empty()) tcp_out_.resize(kMaxMessage);
    Outcome o = responder_.respond(zone_.get(), client, Transport::kTcp, query, tcp_out_);
    count(o, Transport::kTcp);
    log_bad(c.peer, o);
    if (o.action == Outcome::Action::kForward) {
      ReplyTo to;
      to.transport = Transport::kTcp;
      to.listener = c.listener;
      to.conn = slot;
      to.conn_serial = c.gen;
      ++c.pending;
      if (c.pending <= kMaxTcpPending && fwd_->start(query, o.upstreams, o.limit, to, now)) {
        bump(c_.forwarded);
        return;
      }
      if (conns_[slot].fd < 0 || conns_[slot].gen != to.conn_serial) return;
      --c.pending;
      o.size = error_reply(query, Rcode::kServFail, tcp_out_);
      o.action = Outcome::Action::kReply;
      bump(c_.servfail);
    }
    if (o.action == Outcome::Action::kReply && o.size) {
      append_frame(c, std::span<const uint8_t>(tcp_out_.data(), o.size));
    }
  }

  void sweep(Clock::time_point now) noexcept {
    for (uint32_t i = 0; i < conns_.size(); ++i) {
      const Conn& c = conns_[i];
      if (c.fd < 0) continue;
      // A message that takes too long to arrive (bytes trickled to hold the slot), or no
      // query for too long while no forwarded answer is owed to the client (RFC 7766 6.2.3).
      if (!c.in.empty() && now - c.begun > s_.options.tcp_message) {
        close_conn(i);
      } else if (c.pending == 0 && now - c.last > s_.options.tcp_idle) {
        close_conn(i);
      }
    }
  }

  Server::Impl& s_;
  Counters& c_;
  int ep_ = -1;
  std::unique_ptr<Forwarder> fwd_;
  Responder responder_;
  std::shared_ptr<const Zone> zone_;
  uint64_t zone_gen_ = ~uint64_t{0};

  std::array<mmsghdr, kBatch> in_msgs_{};
  std::array<mmsghdr, kBatch> out_msgs_{};
  std::array<iovec, kBatch> in_iov_{};
  std::array<iovec, kBatch> out_iov_{};
  std::array<sockaddr_storage, kBatch> peers_{};
  std::array<std::array<uint8_t, kRecvSize>, kBatch> in_bufs_{};
  std::array<std::array<uint8_t, kMaxUdpPayload>, kBatch> out_bufs_{};
  struct alignas(cmsghdr) Ctl {
    std::array<char, kCtlSize> bytes{};
    char* data() { return bytes.data(); }
  };
  std::array<Ctl, kBatch> in_ctl_{};
  std::array<Ctl, kBatch> out_ctl_{};

  std::vector<uint8_t> tcp_out_;
  std::vector<Conn> conns_;
  std::vector<uint32_t> free_conns_;
  size_t nconns_ = 0;
  uint64_t useful_ = 0;
};

}  // namespace

Server::Impl::~Impl() {
  stop();
  for (auto& l : listeners) {
    if (l.udp >= 0) close(l.udp);
    if (l.tcp >= 0) close(l.tcp);
  }
  if (stop_fd >= 0) close(stop_fd);
}

void Server::Impl::stop() noexcept {
  if (threads.empty() && workers.empty()) return;
  const uint64_t one = 1;
  if (write(stop_fd, &one, sizeof(one)) < 0) {
    // An eventfd write fails only on overflow; the counter is non-zero then anyway.
  }
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
  threads.clear();
  workers.clear();
  uint64_t drained;
  if (read(stop_fd, &drained, sizeof(drained)) < 0) {
    // Nothing to drain.
  }
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Expected<std::unique_ptr<Server>> Server::create(ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  auto& opts = impl->options;
  opts.threads = std::clamp(opts.threads, 1u, 64u);
  // The Server owns every fd it was given, from here on, even when create() fails.
  for (const auto& l : opts.listeners) {
    BoundListener b;
    b.udp = l.udp_fd;
    b.tcp = l.tcp_fd;
    b.container_id = l.container_id;
    impl->listeners.push_back(std::move(b));
  }
  impl->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->stop_fd < 0) return fail(cni::sys_error(errno, "eventfd"));

  for (size_t i = 0; i < opts.listeners.size(); ++i) {
    const Listener& l = opts.listeners[i];
    BoundListener& b = impl->listeners[i];
    if (b.udp >= 0) {
      auto a = adopt_socket(b.udp, SOCK_DGRAM);
      if (!a) return fail(std::move(a.error()).context("DNS listener"));
      b.udp_addr = *a;
    }
    if (b.tcp >= 0) {
      auto a = adopt_socket(b.tcp, SOCK_STREAM);
      if (!a) return fail(std::move(a.error()).context("DNS listener"));
      b.tcp_addr = *a;
    }
    const bool want_udp = l.udp && b.udp < 0;
    const bool want_tcp = l.tcp && b.tcp < 0;
    // Port 0: let the kernel pick for UDP, then take the same port for TCP; retry when that
    // port is taken for TCP.
    for (int attempt = 0; attempt < 16; ++attempt) {
      SocketAddr addr = l.address;
      if (want_udp) {
        auto fd = open_socket(addr, SOCK_DGRAM, l.freebind);
        if (!fd) return fail(std::move(fd.error()).context("DNS listener"));
        b.udp = *fd;
        auto bound = local_address(b.udp);
        if (!bound) return fail(std::move(bound.error()));
        b.udp_addr = *bound;
        addr.port = bound->port;
      }
      if (want_tcp) {
        auto fd = open_socket(addr, SOCK_STREAM, l.freebind);
        if (!fd) {
          if (want_udp && l.address.port == 0 && fd.error().sys_errno == EADDRINUSE) {
            close(b.udp);
            b.udp = -1;
            continue;
          }
          return fail(std::move(fd.error()).context("DNS listener"));
        }
        b.tcp = *fd;
        auto bound = local_address(b.tcp);
        if (!bound) return fail(std::move(bound.error()));
        b.tcp_addr = *bound;
      }
      break;
    }
    if (want_tcp && b.tcp < 0) {
      return fail(cni::sys_error(EADDRINUSE, "DNS listener: bind tcp " + l.address.str()));
    }
    b.udp_wildcard = b.udp >= 0 && b.udp_addr.ip.is_unspecified();
    b.udp_pktinfo = b.udp >= 0;
    b.tcp_wildcard = b.tcp >= 0 && b.tcp_addr.ip.is_unspecified();
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::set_zone(std::shared_ptr<const Zone> zone) noexcept {
  {
    std::lock_guard hold(impl_->zone_mu);
    impl_->zone.swap(zone);
  }  // the old zone, when this was its last user, is freed here, outside the lock
  impl_->zone_gen.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<const Zone> Server::zone() const noexcept {
  return impl_->current_zone();
}

Expected<void> Server::start() {
  if (!impl_->threads.empty()) return {};
  for (unsigned i = 0; i < impl_->options.threads; ++i) {
    if (impl_->counters.size() <= i) impl_->counters.push_back(std::make_unique<Counters>());
    auto w = std::make_unique<Worker>(*impl_, *impl_->counters[i]);
    if (auto r = w->init(); !r) {
      impl_->workers.clear();
      return fail(std::move(r.error()).context("start DNS worker"));
    }
    impl_->workers.push_back(std::move(w));
  }
  for (auto& w : impl_->workers) {
    Worker* worker = w.get();
    impl_->threads.emplace_back([worker] { worker->run(); });
  }
  return {};
}

void Server::stop() noexcept {
  impl_->stop();
}

std::vector<SocketAddr> Server::udp_addresses() const {
  std::vector<SocketAddr> out;
  for (const auto& l : impl_->listeners)
    out.push_back(l.udp >= 0 ? l.udp_addr : SocketAddr{l.tcp_addr.ip, 0});
  return out;
}

std::vector<SocketAddr> Server::tcp_addresses() const {
  std::vector<SocketAddr> out;
  for (const auto& l : impl_->listeners)
    out.push_back(l.tcp >= 0 ? l.tcp_addr : SocketAddr{l.udp_addr.ip, 0});
  return out;
}

ServerStats Server::stats() const noexcept {
  ServerStats s;
  for (const auto& c : impl_->counters) {
    auto get = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
    s.udp_queries += get(c->udp_queries);
    s.tcp_queries += get(c->tcp_queries);
    s.answers += get(c->answers);
    s.nodata += get(c->nodata);
    s.nxdomain += get(c->nxdomain);
    s.refused += get(c->refused);
    s.forwarded += get(c->forwarded);
    s.servfail += get(c->servfail);
    s.formerr += get(c->formerr);
    s.dropped += get(c->dropped);
    s.truncated += get(c->truncated);
  }
  return s;
}

}  // namespace weir::dns
