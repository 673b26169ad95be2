// The DNS server on real sockets, on loopback only (no root needed, so labelled `unit`): our
// own client and dig against a fixture zone, forwarding to a fake upstream on another
// loopback port, failures of upstreams, zone swaps under load, hostile datagrams, TCP.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "dns/server.hpp"
#include "dns/wire.hpp"
#include "dns/zone.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/dns_testing.hpp"

namespace weir::dns {
namespace {

using namespace std::chrono_literals;
using testing::decode;
using testing::Decoded;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::make_query;
using ::testing::UnorderedElementsAre;

using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

net::IpAddr ip(std::string_view s) {
  return *net::IpAddr::parse(s);
}

// An fd closed at scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

Fd bound_socket(int type, const SocketAddr& at) {
  Fd s(socket(at.ip.is_v4() ? AF_INET : AF_INET6, type | SOCK_CLOEXEC, 0));
  EXPECT_GE(s.fd, 0);
  const int one = 1;
  setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage ss;
  const socklen_t len = to_sockaddr(at, &ss);
  EXPECT_EQ(bind(s.fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << strerror(errno);
  return s;
}

SocketAddr local_of(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return *from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

// A UDP and a TCP socket bound to one port of 127.0.0.1. The port the kernel picks for UDP may
// be another socket's for TCP (the tests beside this one bind loopback ports too): another one.
std::pair<Fd, Fd> bound_pair() {
  for (int attempt = 1;; ++attempt) {
    Fd udp = bound_socket(SOCK_DGRAM, {ip("127.0.0.1"), 0});
    const SocketAddr at = local_of(udp.fd);
    Fd tcp(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int one = 1;
    setsockopt(tcp.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_storage ss;
    const socklen_t len = to_sockaddr(at, &ss);
    if (bind(tcp.fd, reinterpret_cast<sockaddr*>(&ss), len) == 0)
      return {std::move(udp), std::move(tcp)};
    EXPECT_EQ(errno, EADDRINUSE) << strerror(errno);
    if (attempt == 100) {
      ADD_FAILURE() << "no loopback port free for both UDP and TCP";
      return {std::move(udp), std::move(tcp)};
    }
  }
}

bool readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

// One UDP exchange from `from` (any loopback address works as a source).
std::optional<Bytes> udp_exchange(const SocketAddr& server, const Bytes& query,
                                  std::string_view from = "127.0.0.2",
                                  std::chrono::milliseconds timeout = 3000ms) {
  Fd s = bound_socket(SOCK_DGRAM, {ip(from), 0});
  sockaddr_storage ss;
  const socklen_t len = to_sockaddr(server, &ss);
  // Connected: only datagrams from the server's exact address and port come through, so this
  // also checks that the reply leaves from the address the query went to.
  if (connect(s.fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) return std::nullopt;
  if (send(s.fd, query.data(), query.size(), 0) < 0) return std::nullopt;
  if (!readable(s.fd, timeout)) return std::nullopt;
  Bytes buf(65535);
  const ssize_t n = recv(s.fd, buf.data(), buf.size(), 0);
  if (n < 0) return std::nullopt;
  buf.resize(static_cast<size_t>(n));
  return buf;
}

std::optional<Decoded> udp_ask(const SocketAddr& server, std::string_view name, uint16_t type,
                               std::string_view from = "127.0.0.2", testing::QueryOptions o = {}) {
  auto reply = udp_exchange(server, make_query(name, type, o), from);
  if (!reply) return std::nullopt;
  return decode(*reply);
}

bool send_all(int fd, const Bytes& b) {
  size_t off = 0;
  while (off < b.size()) {
    const ssize_t n = send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::optional<Bytes> read_exact(int fd, size_t n, std::chrono::milliseconds timeout = 3000ms) {
  Bytes out;
  while (out.size() < n) {
    if (!readable(fd, timeout)) return std::nullopt;
    uint8_t buf[4096];
    const ssize_t r = recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (r <= 0) return std::nullopt;
    out.insert(out.end(), buf, buf + r);
  }
  return out;
}

Fd tcp_connect(const SocketAddr& server, std::string_view from = "127.0.0.2") {
  Fd s = bound_socket(SOCK_STREAM, {ip(from), 0});
  sockaddr_storage ss;
  const socklen_t len = to_sockaddr(server, &ss);
  EXPECT_EQ(connect(s.fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << strerror(errno);
  return s;
}

Bytes framed(const Bytes& msg) {
  // Sized up front: GCC 12 at -O2 misreads insert() into a 2-byte vector (-Warray-bounds).
  Bytes out(msg.size() + 2);
  out[0] = static_cast<uint8_t>(msg.size() >> 8);
  out[1] = static_cast<uint8_t>(msg.size());
  std::copy(msg.begin(), msg.end(), out.begin() + 2);
  return out;
}

std::optional<Decoded> tcp_read_reply(int fd) {
  auto len = read_exact(fd, 2);
  if (!len) return std::nullopt;
  auto body = read_exact(fd, static_cast<size_t>((*len)[0] << 8 | (*len)[1]));
  if (!body) return std::nullopt;
  return decode(*body);
}

// A stand-in for the host's resolver, on its own loopback port, UDP and TCP.
class FakeUpstream {
 public:
  enum class Mode { kAnswer, kWrongIdFirst, kSilent, kServfail };

  explicit FakeUpstream(Mode mode = Mode::kAnswer) : mode_(mode) {
    std::tie(udp_, tcp_) = bound_pair();
    addr_ = local_of(udp_.fd);
    listen(tcp_.fd, 16);
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
  }
  SocketAddr addr() const { return addr_; }
  int queries() const { return queries_.load(); }
  uint16_t last_id() const { return last_id_.load(); }
  uint16_t last_udp_size() const { return last_udp_size_.load(); }

 private:
  Bytes answer(const Bytes& q, uint16_t id) {
    auto m = parse(q);
    Bytes out(4096);
    if (!m) return {};
    Writer w(out, out.size());
    const uint16_t rcode = mode_ == Mode::kServfail ? 2 : 0;
    w.put_header({id, static_cast<uint16_t>(kFlagQR | kFlagRD | kFlagRA | rcode), 1,
                  static_cast<uint16_t>(rcode ? 0 : 1), 0, 0});
    w.put_bytes(std::span<const uint8_t>(q).subspan(kHeaderSize, m->question_end - kHeaderSize));
    const uint8_t a[4] = {192, 0, 2, 1};
    if (!rcode) w.put_address_rr(kTypeA, 60, a, 4);
    out.resize(w.size());
    return out;
  }

  void loop() {
    std::vector<Fd> conns;
    while (!stop_) {
      std::vector<pollfd> fds{{udp_.fd, POLLIN, 0}, {tcp_.fd, POLLIN, 0}};
      for (const auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        Bytes buf(4096);
        sockaddr_storage from;
        socklen_t len = sizeof(from);
        const ssize_t n =
            recvfrom(udp_.fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n > 0) {
          buf.resize(static_cast<size_t>(n));
          record(buf);
          if (mode_ != Mode::kSilent) {
            const uint16_t id = get16(buf.data());
            if (mode_ == Mode::kWrongIdFirst) {
              auto bad = answer(buf, static_cast<uint16_t>(id + 1));
              sendto(udp_.fd, bad.data(), bad.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
            }
            auto good = answer(buf, id);
            sendto(udp_.fd, good.data(), good.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
          }
        }
      }
      if (fds[1].revents & POLLIN)
        conns.emplace_back(accept4(tcp_.fd, nullptr, nullptr, SOCK_CLOEXEC));
      for (size_t i = 2; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
        auto len = read_exact(fds[i].fd, 2, 100ms);
        if (!len) {
          conns[i - 2] = Fd();
          continue;
        }
        auto q = read_exact(fds[i].fd, static_cast<size_t>((*len)[0] << 8 | (*len)[1]), 100ms);
        if (!q) continue;
        record(*q);
        if (mode_ != Mode::kSilent) send_all(fds[i].fd, framed(answer(*q, get16(q->data()))));
      }
      std::erase_if(conns, [](const Fd& f) { return f.fd < 0; });
    }
  }

  void record(const Bytes& q) {
    ++queries_;
    last_id_ = get16(q.data());
    if (auto m = parse(q); m && m->edns.present) last_udp_size_ = m->edns.udp_size;
  }

  Mode mode_;
  Fd udp_, tcp_;
  SocketAddr addr_;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::atomic<uint16_t> last_id_{0};
  std::atomic<uint16_t> last_udp_size_{0};
  std::thread thread_;
};

// Network "lo" (127.0.0.0/8 and ::1 on the link "lo", so every loopback client but the
// listen addresses may recurse) with containers at 127.0.10.x, and network "other" (a subnet
// no client here is in). A source that is a listen address, as 127.0.0.1 is, is the host
// asking its own gateway: the clients here ask from 127.0.0.2 unless told.
std::shared_ptr<const Zone> make_zone(std::vector<SocketAddr> upstreams,
                                      std::string extra_name = {}) {
  std::vector<ZoneNetwork> nets{
      {.name = "lo",
       .subnets = {*net::Cidr::parse("127.0.0.0/8"), *net::Cidr::parse("::1/128")},
       .listen = {ip("127.0.0.1"), ip("127.0.0.77"), ip("::1")},
       .links = {static_cast<int>(if_nametoindex("lo"))}},
      {.name = "other",
       .subnets = {*net::Cidr::parse("10.99.0.0/24")},
       .listen = {ip("10.99.0.1")}},
  };
  std::vector<ZoneEndpoint> eps{
      {.network = "lo",
       .container_id = "ctr-a",
       .names = {"web"},
       .aliases = {"lb"},
       .ips = {ip("127.0.10.2"), ip("fd00::2")}},
      {.network = "lo",
       .container_id = "ctr-b",
       .names = {"db"},
       .aliases = {"lb"},
       .ips = {ip("127.0.10.3")}},
      {.network = "other", .container_id = "ctr-c", .names = {"secret"}, .ips = {ip("10.99.0.2")}},
  };
  for (int i = 0; i < 100; ++i) {
    eps.push_back({.network = "lo",
                   .container_id = "many" + std::to_string(i),
                   .aliases = {"many"},
                   .ips = {net::IpAddr::v4(0x7f0b0000u + static_cast<uint32_t>(i))}});
  }
  if (!extra_name.empty()) {
    eps.push_back({.network = "lo",
                   .container_id = "ctr-x",
                   .names = {extra_name},
                   .ips = {ip("127.0.10.9")}});
  }
  auto z = build_zone(nets, eps, {.host_upstreams = std::move(upstreams)});
  EXPECT_TRUE(z) << z.error().msg;
  return *z;
}

struct Running {
  std::unique_ptr<Server> server;
  SocketAddr udp;
  SocketAddr tcp;
};

Running serve(std::shared_ptr<const Zone> zone, ServerOptions o = {}) {
  if (o.listeners.empty()) o.listeners.push_back({.address = {ip("127.0.0.1"), 0}});
  auto s = Server::create(std::move(o));
  EXPECT_TRUE(s) << s.error().msg;
  Running r{std::move(*s), {}, {}};
  r.server->set_zone(std::move(zone));
  auto started = r.server->start();
  EXPECT_TRUE(started) << started.error().msg;
  r.udp = r.server->udp_addresses().at(0);
  r.tcp = r.server->tcp_addresses().at(0);
  return r;
}

TEST(DnsServer, AnswersOverUdpAndTcpOnOnePort) {
  FakeUpstream up;
  auto r = serve(make_zone({up.addr()}));
  EXPECT_NE(r.udp.port, 0);
  EXPECT_EQ(r.udp.port, r.tcp.port);

  auto d = udp_ask(r.udp, "web.lo", kTypeA, "127.0.10.3");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rcode(), 0);
  EXPECT_TRUE(d->has(kFlagAA));
  EXPECT_THAT(d->data(), ElementsAre("127.0.10.2"));
  EXPECT_EQ(d->answers[0].ttl, kDefaultTtl);

  d = udp_ask(r.udp, "WEB", kTypeAAAA, "127.0.10.3");
  ASSERT_TRUE(d);
  EXPECT_THAT(d->data(), ElementsAre("fd00::2"));

  // Several queries pipelined on one TCP connection, written in one go.
  Fd c = tcp_connect(r.tcp, "127.0.10.3");
  Bytes burst;
  for (auto [id, name] :
       {std::pair<uint16_t, const char*>{1, "web"}, {2, "db"}, {3, "nosuch.lo"}}) {
    auto f = framed(make_query(name, kTypeA, {.id = id}));
    burst.insert(burst.end(), f.begin(), f.end());
  }
  ASSERT_TRUE(send_all(c.fd, burst));
  std::map<uint16_t, Decoded> got;
  for (int i = 0; i < 3; ++i) {
    auto reply = tcp_read_reply(c.fd);
    ASSERT_TRUE(reply);
    got[reply->id] = *reply;
  }
  EXPECT_THAT(got[1].data(), ElementsAre("127.0.10.2"));
  EXPECT_THAT(got[2].data(), ElementsAre("127.0.10.3"));
  EXPECT_EQ(got[3].rcode(), 3);
  // The connection stays open for more.
  ASSERT_TRUE(send_all(c.fd, framed(make_query("lb", kTypeA, {.id = 4}))));
  auto more = tcp_read_reply(c.fd);
  ASSERT_TRUE(more);
  EXPECT_THAT(more->data(), UnorderedElementsAre("127.0.10.2", "127.0.10.3"));

  const auto stats = r.server->stats();
  EXPECT_GE(stats.udp_queries, 2u);
  EXPECT_EQ(stats.tcp_queries, 4u);
  EXPECT_EQ(stats.nxdomain, 1u);
}

TEST(DnsServer, ScopesByTheClientsAddress) {
  FakeUpstream up;
  auto r = serve(make_zone({up.addr()}));
  // ctr-c's network is not lo: from lo, secret.other is NXDOMAIN, never forwarded.
  auto d = udp_ask(r.udp, "secret.other", kTypeA, "127.0.10.3");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rcode(), 3);
  EXPECT_EQ(up.queries(), 0);
}

TEST(DnsServer, RotatesSharedNamesPerReply) {
  FakeUpstream up;
  auto r = serve(make_zone({up.addr()}));
  std::set<std::string> firsts;
  for (int i = 0; i < 4; ++i) {
    auto d = udp_ask(r.udp, "lb", kTypeA, "127.0.10.3");
    ASSERT_TRUE(d);
    ASSERT_EQ(d->answers.size(), 2u);
    firsts.insert(d->answers[0].data);
  }
  EXPECT_EQ(firsts.size(), 2u);
}

TEST(DnsServer, TruncatesOverUdpAndServesAllOverTcp) {
  FakeUpstream up;
  auto r = serve(make_zone({up.addr()}));
  auto d = udp_ask(r.udp, "many", kTypeA);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->has(kFlagTC));
  EXPECT_LT(d->answers.size(), 100u);
  d = udp_ask(r.udp, "many", kTypeA, "127.0.0.2", {.edns = true, .udp_size = 4096});
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->has(kFlagTC));  // 100 records need 1,622 bytes: over our 1,232
  ASSERT_EQ(d->additional.size(), 1u);
  EXPECT_EQ(d->additional[0].klass, kMaxUdpPayload);
  Fd c = tcp_connect(r.tcp, "127.0.10.3");
  ASSERT_TRUE(send_all(c.fd, framed(make_query("many", kTypeA))));
  d = tcp_read_reply(c.fd);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->has(kFlagTC));
  EXPECT_EQ(d->answers.size(), 100u);
}

TEST(DnsServer, ForwardsOverTheClientsTransport) {
  FakeUpstream up;
  auto r = serve(make_zone({up.addr()}));
  auto d = udp_ask(r.udp, "example.com", kTypeA, "127.0.10.2",
                   {.id = 0x4242, .edns = true, .udp_size = 4096});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->id, 0x4242);
  EXPECT_THAT(d->data(), ElementsAre("192.0.2.1"));
  EXPECT_EQ(up.queries(), 1);
  EXPECT_EQ(up.last_udp_size(), kMaxUdpPayload);  // capped to what we relay

  Fd c = tcp_connect(r.tcp, "127.0.10.2");
  ASSERT_TRUE(send_all(c.fd, framed(make_query("example.org", kTypeA, {.id = 7}))));
  d = tcp_read_reply(c.fd);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->id, 7);
  EXPECT_THAT(d->data(), ElementsAre("192.0.2.1"));
  EXPECT_EQ(up.queries(), 2);
  EXPECT_EQ(r.server->stats().forwarded, 2u);
}

TEST(DnsServer, IgnoresAnUpstreamAnswerWithTheWrongId) {
  FakeUpstream up(FakeUpstream::Mode::kWrongIdFirst);
  auto r = serve(make_zone({up.addr()}));
  auto d = udp_ask(r.udp, "example.com", kTypeA, "127.0.10.2", {.id = 99});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->id, 99);
  EXPECT_EQ(d->rcode(), 0);
  EXPECT_THAT(d->data(), ElementsAre("192.0.2.1"));
}

TEST(DnsServer, TriesTheNextUpstreamWhenOneFails) {
  FakeUpstream failing(FakeUpstream::Mode::kServfail);
  FakeUpstream good;
  auto r = serve(make_zone({failing.addr(), good.addr()}));
  auto d = udp_ask(r.udp, "example.com", kTypeA, "127.0.10.2");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rcode(), 0);
  EXPECT_THAT(d->data(), ElementsAre("192.0.2.1"));
  EXPECT_EQ(failing.queries(), 1);
  EXPECT_EQ(good.queries(), 1);
}

TEST(DnsServer, ServfailAtOnceWhenNoUpstreamListens) {
  SocketAddr closed;
  {
    Fd s = bound_socket(SOCK_DGRAM, {ip("127.0.0.1"), 0});
    closed = local_of(s.fd);
  }  // closed now: the kernel answers ICMP port unreachable
  auto r = serve(make_zone({closed}), {.forward_timeout = 5000ms});
  const auto start = Clock::now();
  auto d = udp_ask(r.udp, "example.com", kTypeA, "127.0.10.2");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rcode(), 2);
  EXPECT_LT(Clock::now() - start, 2500ms);  // the ICMP error, not the 5 s timeout
  // TCP: connection refused.
  Fd c = tcp_connect(r.tcp, "127.0.10.2");
  ASSERT_TRUE(send_all(c.fd, framed(make_query("example.com", kTypeA))));
  d = tcp_read_reply(c.fd);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rcode(), 2);
  EXPECT_LT(Clock::now() - start, 4000ms);
}

TEST(DnsServer, ServfailWithinTheBoundWhenUpstreamsAreSilent) {
  FakeUpstream silent1(FakeUpstream::Mode::kSilent);
  FakeUpstream silent2(FakeUpstream::Mode::kSilent);
  auto r = serve(make_zone({silent1.addr(), silent2.addr()}),
                 {.forward_timeout = 400ms, .forward_attempt = 150ms});
  const auto start = Clock::now();
  auto d = udp_ask(r.udp, "example.com", kTypeA, "127.0.10.2");
  const auto took = Clock::now() - start;
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rcode(), 2);
  EXPECT_GE(took, 380ms);
  EXPECT_LT(took, 1500ms);  // generous: CI machines are busy
  EXPECT_EQ(silent1.queries(), 1);
  EXPECT_EQ(silent2.queries(), 1);  // asked after the first attempt's 150 ms
  EXPECT_EQ(r.server->stats().servfail, 1u);
}

// Issue 13, item 7: a client outside the network's subnets gets nothing, not even names.
TEST(DnsServer, RefusesStrangersEverything) {
  FakeUpstream up;
  // A network whose subnet does not hold the loopback clients, listening on 127.0.0.1.
  std::vector<ZoneNetwork> nets{
      {.name = "n", .subnets = {*net::Cidr::parse("10.50.0.0/24")}, .listen = {ip("127.0.0.1")}}};
  std::vector<ZoneEndpoint> eps{
      {.network = "n", .container_id = "c", .names = {"x"}, .ips = {ip("10.50.0.2")}}};
  auto zone = build_zone(nets, eps, {.host_upstreams = {up.addr()}});
  ASSERT_TRUE(zone);
  auto r = serve(*zone);
  for (const char* name : {"example.com", "x.n", "x", "2.0.50.10.in-addr.arpa"}) {
    auto d = udp_ask(r.udp, name, kTypeA);
    ASSERT_TRUE(d) << name;
    EXPECT_EQ(d->rcode(), 5) << name;
    EXPECT_FALSE(d->has(kFlagRA)) << name;
    EXPECT_TRUE(d->answers.empty()) << name;
  }
  Fd c = tcp_connect(r.tcp, "127.0.10.3");
  ASSERT_TRUE(send_all(c.fd, framed(make_query("x.n", kTypeA))));
  auto d = tcp_read_reply(c.fd);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rcode(), 5);
  EXPECT_EQ(up.queries(), 0);
}

// Issue 13, item 8: a datagram is answered only when it arrived on the network's link
// (IP_PKTINFO), whatever its source claims.
TEST(DnsServer, AnswersDatagramsOnlyFromTheNetworksLink) {
  FakeUpstream up;
  const int lo = static_cast<int>(if_nametoindex("lo"));
  for (int link : {lo, lo + 1000}) {
    SCOPED_TRACE(link);
    std::vector<ZoneNetwork> nets{{.name = "n",
                                   .subnets = {*net::Cidr::parse("127.0.0.0/8")},
                                   .listen = {ip("127.0.0.1")},
                                   .links = {link}}};
    std::vector<ZoneEndpoint> eps{
        {.network = "n", .container_id = "c", .names = {"x"}, .ips = {ip("127.0.10.2")}}};
    auto zone = build_zone(nets, eps, {.host_upstreams = {up.addr()}});
    ASSERT_TRUE(zone);
    auto r = serve(*zone);
    auto d = udp_ask(r.udp, "x", kTypeA, "127.0.10.3");
    ASSERT_TRUE(d);
    if (link == lo) {
      EXPECT_THAT(d->data(), ElementsAre("127.0.10.2"));
    } else {
      EXPECT_EQ(d->rcode(), 5);
      EXPECT_TRUE(d->answers.empty());
      d = udp_ask(r.udp, "example.com", kTypeA, "127.0.10.3");
      ASSERT_TRUE(d);
      EXPECT_EQ(d->rcode(), 5);
      EXPECT_EQ(up.queries(), 0);
    }
  }
}

// Issue 13, item 6: a message trickled byte by byte does not hold its connection past the
// bound on one message (the idle timer is not reset by bytes).
TEST(DnsServer, TcpMessageTakingTooLongIsCut) {
  FakeUpstream up;
  auto r = serve(make_zone({up.addr()}), {.tcp_idle = 60s, .tcp_message = 300ms});
  Fd c = tcp_connect(r.tcp, "127.0.10.3");
  const uint8_t prefix[2] = {0, 200};
  ASSERT_EQ(send(c.fd, prefix, 2, MSG_NOSIGNAL), 2);
  bool closed = false;
  // Generous: the server's sweep cuts it within about a second; 20 s is only the test's
  // own timeout.
  for (int i = 0; i < 200 && !closed; ++i) {
    const uint8_t b = 0;
    if (send(c.fd, &b, 1, MSG_NOSIGNAL) < 0) closed = true;
    if (readable(c.fd, 100ms)) {
      char x;
      closed = recv(c.fd, &x, 1, 0) <= 0;
    }
  }
  EXPECT_TRUE(closed) << "a trickling connection is still open after 20 s";
  // The server is still there for the next one.
  Fd next = tcp_connect(r.tcp, "127.0.10.3");
  ASSERT_TRUE(send_all(next.fd, framed(make_query("web", kTypeA))));
  auto d = tcp_read_reply(next.fd);
  ASSERT_TRUE(d);
  EXPECT_THAT(d->data(), ElementsAre("127.0.10.2"));
}

// Issue 13, item 6: connections that hold every slot do not keep another client out; past its
// share, a source's own oldest connection makes way.
TEST(DnsServer, TcpSlotsHeldByOneSourceDoNotLockOthersOut) {
  FakeUpstream up;
  for (size_t per_source : {size_t{4}, size_t{100}}) {  // the per-source and the total limit
    SCOPED_TRACE(per_source);
    auto r = serve(make_zone({up.addr()}),
                   {.max_tcp_clients = 8, .max_tcp_per_source = per_source});
    std::vector<Fd> held;
    for (int i = 0; i < 20; ++i) {
      held.push_back(tcp_connect(r.tcp, "127.0.10.9"));
      const uint8_t b = 0;
      ASSERT_EQ(send(held.back().fd, &b, 1, MSG_NOSIGNAL), 1);
    }
    Fd c = tcp_connect(r.tcp, "127.0.10.3");
    ASSERT_TRUE(send_all(c.fd, framed(make_query("web", kTypeA))));
    auto d = tcp_read_reply(c.fd);
    ASSERT_TRUE(d);
    EXPECT_THAT(d->data(), ElementsAre("127.0.10.2"));
    // The holder's newest connection is still served.
    ASSERT_TRUE(send_all(held.back().fd, Bytes{static_cast<uint8_t>(make_query("db", kTypeA).size())}));
    ASSERT_TRUE(send_all(held.back().fd, make_query("db", kTypeA)));
    d = tcp_read_reply(held.back().fd);
    ASSERT_TRUE(d);
    EXPECT_THAT(d->data(), ElementsAre("127.0.10.3"));
  }
}

TEST(DnsServer, SwapsZonesWhileServing) {
  FakeUpstream up;
  ServerOptions o;
  o.threads = 2;
  auto r = serve(make_zone({up.addr()}), std::move(o));
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&, t] {
      Fd s = bound_socket(SOCK_DGRAM, {ip("127.0.10.3"), 0});
      sockaddr_storage ss;
      const socklen_t len = to_sockaddr(r.udp, &ss);
      connect(s.fd, reinterpret_cast<sockaddr*>(&ss), len);
      Bytes buf(4096);
      for (uint16_t i = 0; !stop; ++i) {
        const auto q =
            make_query("web", kTypeA, {.id = static_cast<uint16_t>(t << 12 | (i & 0xfff))});
        send(s.fd, q.data(), q.size(), 0);
        if (!readable(s.fd, 1000ms)) {
          ++failed;
          continue;
        }
        const ssize_t n = recv(s.fd, buf.data(), buf.size(), 0);
        auto d = decode(
            std::span<const uint8_t>(buf.data(), static_cast<size_t>(std::max<ssize_t>(n, 0))));
        if (d && d->answers.size() == 1) {
          ++answered;
        } else {
          ++failed;
        }
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    r.server->set_zone(make_zone({up.addr()}, "gen" + std::to_string(i)));
    std::this_thread::sleep_for(5ms);
  }
  auto d = udp_ask(r.udp, "gen49", kTypeA, "127.0.10.3");
  stop = true;
  for (auto& c : clients) c.join();
  ASSERT_TRUE(d);
  EXPECT_THAT(d->data(), ElementsAre("127.0.10.9"));
  EXPECT_GT(answered.load(), 100);
  EXPECT_EQ(failed.load(), 0);
  // No zone: SERVFAIL, and the server keeps running.
  r.server->set_zone(nullptr);
  d = udp_ask(r.udp, "web", kTypeA, "127.0.10.3");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rcode(), 2);
}

TEST(DnsServer, SurvivesHostileDatagramsAndLogsThemRateLimited) {
  FakeUpstream up;
  std::atomic<int> logged{0};
  ServerOptions o;
  o.log = [&](LogLevel, std::string_view msg) {
    EXPECT_THAT(std::string(msg), HasSubstr("malformed query from 127.0.0.1"));
    ++logged;
  };
  auto r = serve(make_zone({up.addr()}), std::move(o));
  Fd s = bound_socket(SOCK_DGRAM, {ip("127.0.0.1"), 0});
  sockaddr_storage ss;
  const socklen_t len = to_sockaddr(r.udp, &ss);
  std::mt19937 rng(1);
  const Bytes valid = make_query("web.lo", kTypeA);
  for (int i = 0; i < 3000; ++i) {
    Bytes b = valid;
    if (i % 3 == 0) {
      b.resize(rng() % 64);
      for (auto& x : b) x = static_cast<uint8_t>(rng());
    } else {
      for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
      b[2] &= 0x7f;  // keep it a query
    }
    sendto(s.fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
    if (i % 256 == 0) std::this_thread::sleep_for(1ms);  // do not overflow the socket buffer
  }
  // Also a datagram over our 4 KiB receive buffer.
  Bytes huge(9000, 0);
  sendto(s.fd, huge.data(), huge.size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
  auto d = udp_ask(r.udp, "web.lo", kTypeA, "127.0.10.3");
  ASSERT_TRUE(d);
  EXPECT_THAT(d->data(), ElementsAre("127.0.10.2"));
  const auto stats = r.server->stats();
  EXPECT_GT(stats.formerr + stats.dropped, 100u);
  EXPECT_GT(logged.load(), 0);
  EXPECT_LT(logged.load(), 20);  // a burst of 5, then one a second
}

TEST(DnsServer, ClosesIdleTcpConnections) {
  FakeUpstream up;
  auto r = serve(make_zone({up.addr()}), {.tcp_idle = 200ms});
  Fd c = tcp_connect(r.tcp);
  ASSERT_TRUE(readable(c.fd, 3000ms));
  char b;
  EXPECT_EQ(recv(c.fd, &b, 1, 0), 0);  // orderly close by the server
}

TEST(DnsServer, ServesAdoptedSocketsForOneContainer) {
  FakeUpstream up;
  auto [udp, tcp] = bound_pair();
  const SocketAddr at = local_of(udp.fd);
  ServerOptions o;
  o.listeners.push_back({.udp_fd = std::exchange(udp.fd, -1),
                         .tcp_fd = std::exchange(tcp.fd, -1),
                         .container_id = "ctr-c"});
  auto r = serve(make_zone({up.addr()}), std::move(o));
  EXPECT_EQ(r.udp, at);
  // From 127.0.0.1, but the socket belongs to ctr-c, which sees network "other".
  auto d = udp_ask(r.udp, "secret", kTypeA);
  ASSERT_TRUE(d);
  EXPECT_THAT(d->data(), ElementsAre("10.99.0.2"));
  Fd c = tcp_connect(r.tcp);
  ASSERT_TRUE(send_all(c.fd, framed(make_query("secret.other", kTypeA))));
  d = tcp_read_reply(c.fd);
  ASSERT_TRUE(d);
  EXPECT_THAT(d->data(), ElementsAre("10.99.0.2"));
}

TEST(DnsServer, WildcardListenerAnswersFromTheAddressAsked) {
  FakeUpstream up;
  auto r =
      serve(make_zone({up.addr()}), {.listeners = {{.address = {ip("0.0.0.0"), 0}, .tcp = false}}});
  // udp_exchange connects to 127.0.0.77: a reply from any other source would not arrive.
  auto d = udp_ask({ip("127.0.0.77"), r.udp.port}, "web", kTypeA, "127.0.10.3");
  ASSERT_TRUE(d);
  EXPECT_THAT(d->data(), ElementsAre("127.0.10.2"));
  EXPECT_EQ(r.tcp.port, 0);
}

TEST(DnsServer, Ipv6Loopback) {
  FakeUpstream up;
  // ::1 is the only IPv6 loopback address, and a listen address is no member: the socket
  // serves one container, as macvlan's in-netns sockets do.
  auto s = Server::create({.listeners = {{.address = {ip("::1"), 0}, .container_id = "ctr-a"}}});
  if (!s && s.error().sys_errno == EADDRNOTAVAIL) GTEST_SKIP() << "no ::1 here";
  ASSERT_TRUE(s) << s.error().msg;
  (*s)->set_zone(make_zone({up.addr()}));
  ASSERT_TRUE((*s)->start());
  auto d = udp_ask((*s)->udp_addresses()[0], "web.lo", kTypeAAAA, "::1");
  ASSERT_TRUE(d);
  EXPECT_THAT(d->data(), ElementsAre("fd00::2"));
}

TEST(DnsServer, CreateReportsBindFailures) {
  Fd taken = bound_socket(SOCK_DGRAM, {ip("127.0.0.1"), 0});
  auto s = Server::create({.listeners = {{.address = local_of(taken.fd)}}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().sys_errno, EADDRINUSE);
  EXPECT_THAT(s.error().msg, HasSubstr("bind udp 127.0.0.1:"));
  // An address this host does not have: refused, unless asked to bind freely.
  s = Server::create({.listeners = {{.address = {ip("192.0.2.77"), 0}, .tcp = false}}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().sys_errno, EADDRNOTAVAIL);
  s = Server::create(
      {.listeners = {{.address = {ip("192.0.2.77"), 0}, .tcp = false, .freebind = true}}});
  EXPECT_TRUE(s) << s.error().msg;
  // An adopted fd of the wrong kind.
  Fd stream(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  s = Server::create({.listeners = {{.udp = true, .udp_fd = std::exchange(stream.fd, -1)}}});
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().msg, HasSubstr("not a UDP socket"));
}

TEST(DnsServer, StopIsIdempotentAndQuick) {
  FakeUpstream up;
  auto r = serve(make_zone({up.addr()}), {.threads = 2});
  const auto start = Clock::now();
  r.server->stop();
  r.server->stop();
  EXPECT_LT(Clock::now() - start, 500ms);
  ASSERT_TRUE(r.server->start());  // and it starts again
  EXPECT_TRUE(udp_ask(r.udp, "web", kTypeA, "127.0.10.3"));
}

// dig, the reference client.
class DnsServerDig : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/dig", X_OK) != 0) GTEST_SKIP() << "dig missing (Debian: bind9-dnsutils)";
  }
  std::string dig(const SocketAddr& at, std::vector<std::string> args) {
    std::vector<std::string> all = {std::string("@").append(at.ip.str()), "-p", std::to_string(at.port), "+time=2",
                                    "+tries=1"};
    all.insert(all.end(), args.begin(), args.end());
    auto run = test::run_cmd("/usr/bin/dig", all);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return run.out;
  }
};

TEST_F(DnsServerDig, ReadsOurAnswers) {
  FakeUpstream up;
  auto r = serve(make_zone({up.addr()}));
  EXPECT_EQ(dig(r.udp, {"-b", "127.0.10.3", "web.lo", "+short"}), "127.0.10.2\n");
  EXPECT_EQ(dig(r.udp, {"-b", "127.0.10.3", "WEB.LO", "AAAA", "+short"}), "fd00::2\n");
  EXPECT_EQ(dig(r.udp, {"-b", "127.0.10.3", "web", "+tcp", "+short"}), "127.0.10.2\n");
  EXPECT_EQ(dig(r.udp, {"-b", "127.0.10.3", "-x", "127.0.10.2", "+short"}), "web.lo.\n");
  const std::string full = dig(r.udp, {"-b", "127.0.10.3", "nosuch.lo"});
  EXPECT_THAT(full, HasSubstr("status: NXDOMAIN"));
  EXPECT_THAT(full, HasSubstr("flags: qr aa rd ra"));
  EXPECT_THAT(full, HasSubstr("EDNS: version: 0, flags:; udp: 1232"));
  EXPECT_THAT(dig(r.udp, {"-b", "127.0.10.3", "db", "AAAA"}), HasSubstr("status: NOERROR"));
  // 100 records: truncated over UDP, dig retries over TCP by itself.
  const std::string many = dig(r.udp, {"-b", "127.0.10.3", "many", "+noedns"});
  EXPECT_THAT(many, HasSubstr("Truncated, retrying in TCP mode"));
  EXPECT_THAT(many, HasSubstr("ANSWER: 100,"));
  // Forwarded.
  EXPECT_EQ(dig(r.udp, {"-b", "127.0.10.3", "example.com", "+short"}), "192.0.2.1\n");
  EXPECT_EQ(dig(r.udp, {"-b", "127.0.10.3", "example.com", "+tcp", "+short"}), "192.0.2.1\n");
}

}  // namespace
}  // namespace weir::dns
