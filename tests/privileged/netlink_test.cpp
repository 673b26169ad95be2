// lib/netns and lib/netlink against the real kernel, each test in its own throw-away netns.
// `ip` is used only to set up veth pairs and to check what the product did.
#include "lib/netlink/netlink.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "lib/netns/netns.hpp"
#include "tests/support/netns.hpp"

namespace weir {
namespace {

using netlink::AddrInfo;
using netlink::LinkInfo;
using netlink::RouteInfo;
using netlink::Socket;
using ::testing::HasSubstr;
using ::testing::Not;

net::Cidr cidr(std::string_view text) {
  auto c = net::Cidr::parse(text);
  EXPECT_TRUE(c.has_value()) << text;
  return c.value_or(net::Cidr{});
}

net::IpAddr ip(std::string_view text) {
  auto a = net::IpAddr::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(net::IpAddr{});
}

bool has_addr(const std::vector<AddrInfo>& addrs, const net::Cidr& want) {
  return std::any_of(addrs.begin(), addrs.end(), [&](const AddrInfo& a) { return a.addr == want; });
}

const RouteInfo* find_route(const std::vector<RouteInfo>& routes,
                            const std::optional<net::Cidr>& dst) {
  auto it =
      std::find_if(routes.begin(), routes.end(), [&](const RouteInfo& r) { return r.dst == dst; });
  return it == routes.end() ? nullptr : &*it;
}

ino_t current_inode() {
  auto cur = netns::Handle::current();
  EXPECT_TRUE(cur.has_value());
  if (!cur) return 0;
  return cur->inode().value_or(0);
}

// A fresh netns with a socket open in it; the socket closes before the netns goes.
class NetlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    ns_.emplace("nl");
    auto handle = netns::Handle::open(ns_->path());
    ASSERT_TRUE(handle) << handle.error().msg;
    auto sock = Socket::open_in(*handle);
    ASSERT_TRUE(sock) << sock.error().msg;
    sock_.emplace(std::move(*sock));
  }

  // `ip -n <ns> ARGS`, stdout and stderr.
  std::string ip_n(const std::string& args) {
    return test::sh("ip -n " + ns_->name() + " " + args + " 2>&1");
  }

  // A veth pair wa0/wb0 inside the test netns, wa0 up.
  LinkInfo make_veth() {
    int status = -1;
    std::string out =
        test::sh("ip -n " + ns_->name() + " link add wa0 type veth peer name wb0 2>&1", &status);
    EXPECT_EQ(status, 0) << out;
    auto wa = netlink::get_link(*sock_, "wa0");
    EXPECT_TRUE(wa) << wa.error().msg;
    if (!wa) return {};
    EXPECT_TRUE(netlink::set_link_up(*sock_, wa->index, true));
    return *wa;
  }

  std::optional<test::TestNetns> ns_;
  std::optional<Socket> sock_;
};

TEST_F(NetlinkTest, LoopbackDownUpAndAddresses) {
  auto lo = netlink::get_link(*sock_, "lo");
  ASSERT_TRUE(lo) << lo.error().msg;
  EXPECT_EQ(lo->name, "lo");
  EXPECT_GT(lo->index, 0);
  EXPECT_EQ(lo->kind, "");
  EXPECT_FALSE(lo->up);  // a new netns starts with lo down

  ASSERT_TRUE(netlink::set_link_up(*sock_, lo->index, false));
  EXPECT_FALSE(netlink::get_link(*sock_, lo->index)->up);
  ASSERT_TRUE(netlink::set_link_up(*sock_, lo->index, true));
  auto up = netlink::get_link(*sock_, lo->index);
  ASSERT_TRUE(up);
  EXPECT_TRUE(up->up);
  EXPECT_EQ(up->name, "lo");
  EXPECT_THAT(ip_n("link show lo"), HasSubstr(",UP"));

  auto addrs = netlink::list_addrs(*sock_, lo->index);
  ASSERT_TRUE(addrs) << addrs.error().msg;
  EXPECT_TRUE(has_addr(*addrs, cidr("127.0.0.1/8")));
  EXPECT_TRUE(has_addr(*addrs, cidr("::1/128")));
  for (const auto& a : *addrs) EXPECT_EQ(a.ifindex, lo->index);

  auto v4 = netlink::list_addrs(*sock_, 0, net::Family::kV4);
  ASSERT_TRUE(v4);
  EXPECT_TRUE(has_addr(*v4, cidr("127.0.0.1/8")));
  EXPECT_FALSE(has_addr(*v4, cidr("::1/128")));
  for (const auto& a : *v4) EXPECT_EQ(a.addr.family(), net::Family::kV4);

  // Turning it down again keeps the addresses but clears IFF_UP.
  ASSERT_TRUE(netlink::set_link_up(*sock_, lo->index, false));
  EXPECT_FALSE(netlink::get_link(*sock_, "lo")->up);
}

TEST_F(NetlinkTest, MissingLinkIsEnodev) {
  auto by_name = netlink::get_link(*sock_, "nosuch0");
  ASSERT_FALSE(by_name);
  EXPECT_EQ(by_name.error().sys_errno, ENODEV);
  EXPECT_EQ(by_name.error().code, cni::Code::kKernel);
  EXPECT_EQ(by_name.error().msg, "link \"nosuch0\": No such device");

  auto by_index = netlink::get_link(*sock_, 4242);
  ASSERT_FALSE(by_index);
  EXPECT_EQ(by_index.error().sys_errno, ENODEV);

  auto set = netlink::set_link_up(*sock_, 4242, true);
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().sys_errno, ENODEV);
  EXPECT_THAT(set.error().msg, HasSubstr("ifindex 4242"));
}

TEST_F(NetlinkTest, VethLinkInfo) {
  LinkInfo wa = make_veth();
  ASSERT_GT(wa.index, 0);
  EXPECT_EQ(wa.kind, "veth");
  EXPECT_EQ(wa.mtu, 1500u);
  EXPECT_FALSE(wa.mac.is_zero());
  EXPECT_EQ(wa.master, 0);
  auto again = netlink::get_link(*sock_, wa.index);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->name, "wa0");
  EXPECT_TRUE(again->up);
  EXPECT_EQ(again->mac, wa.mac);
  EXPECT_THAT(ip_n("link show wa0"), HasSubstr(wa.mac.str()));
}

// IFLA_INET_CONF and RTM_GETNETCONF against what /proc/sys of the same netns says.
TEST_F(NetlinkTest, ArpNotifyAndForwardingByNetlink) {
  LinkInfo wa = make_veth();
  auto proc = [&](const std::string& key) {
    std::string v = test::sh("ip netns exec " + ns_->name() + " cat /proc/sys/" + key + " 2>&1");
    while (!v.empty() && v.back() == '\n') v.pop_back();
    return v;
  };
  EXPECT_EQ(proc("net/ipv4/conf/wa0/arp_notify"), "0");
  ASSERT_TRUE(netlink::set_address_conf(*sock_, wa.index, {.arp_notify = true}));
  EXPECT_EQ(proc("net/ipv4/conf/wa0/arp_notify"), "1");
  ASSERT_TRUE(netlink::set_address_conf(*sock_, wa.index, {.arp_notify = false}));
  EXPECT_EQ(proc("net/ipv4/conf/wa0/arp_notify"), "0");
  auto missing = netlink::set_address_conf(*sock_, 99999, {.arp_notify = true});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno, ENODEV);
  ASSERT_TRUE(netlink::set_address_conf(*sock_, wa.index, {.no_ipv6_lladdr = true}));
  EXPECT_THAT(ip_n("-d link show wa0"), HasSubstr("addrgenmode none"));
  EXPECT_EQ(proc("net/ipv4/conf/wa0/arp_notify"), "0");  // untouched when not given

  for (auto [family, key] : {std::pair{net::Family::kV4, "net/ipv4/ip_forward"},
                             std::pair{net::Family::kV6, "net/ipv6/conf/all/forwarding"}}) {
    for (const char* v : {"1", "0"}) {
      test::sh("ip netns exec " + ns_->name() + " sh -c 'echo " + v + " > /proc/sys/" + key + "'");
      auto on = netlink::forwarding(*sock_, family);
      ASSERT_TRUE(on) << on.error().msg;
      EXPECT_EQ(*on, std::string(v) == "1") << key;
    }
  }
  // The socket is still in step: the next request gets its own answer.
  auto again = netlink::get_link(*sock_, wa.index);
  ASSERT_TRUE(again) << again.error().msg;
  EXPECT_EQ(again->name, "wa0");
}

TEST_F(NetlinkTest, AddAndDeleteAddressesIdempotently) {
  LinkInfo wa = make_veth();
  ASSERT_GT(wa.index, 0);
  const net::Cidr v4 = cidr("10.1.0.2/24");
  const net::Cidr v6 = cidr("fd00:1::2/64");

  for (int i = 0; i < 2; ++i) {
    auto ok = netlink::add_addr(*sock_, wa.index, v4);
    ASSERT_TRUE(ok) << ok.error().msg;
    ok = netlink::add_addr(*sock_, wa.index, v6);
    ASSERT_TRUE(ok) << ok.error().msg;
  }
  auto addrs = netlink::list_addrs(*sock_, wa.index);
  ASSERT_TRUE(addrs) << addrs.error().msg;
  EXPECT_TRUE(has_addr(*addrs, v4));
  EXPECT_TRUE(has_addr(*addrs, v6));
  EXPECT_EQ(
      std::count_if(addrs->begin(), addrs->end(), [&](const AddrInfo& a) { return a.addr == v4; }),
      1);
  auto only_v6 = netlink::list_addrs(*sock_, wa.index, net::Family::kV6);
  ASSERT_TRUE(only_v6);
  EXPECT_FALSE(has_addr(*only_v6, v4));
  EXPECT_TRUE(has_addr(*only_v6, v6));
  // Filtered to the link (by the kernel): none of lo's, and a missing link has none.
  for (const auto& a : *addrs) EXPECT_EQ(a.ifindex, wa.index) << a.addr.str();
  auto none = netlink::list_addrs(*sock_, 99999);
  ASSERT_TRUE(none) << none.error().msg;
  EXPECT_TRUE(none->empty());
  // The socket is back to lenient checks: a full dump and other requests still work.
  auto all = netlink::list_addrs(*sock_, 0);
  ASSERT_TRUE(all) << all.error().msg;
  EXPECT_TRUE(has_addr(*all, v4));
  EXPECT_TRUE(netlink::list_links(*sock_));
  EXPECT_THAT(ip_n("-4 addr show dev wa0"), HasSubstr("inet 10.1.0.2/24 brd 10.1.0.255"));
  EXPECT_THAT(ip_n("-6 addr show dev wa0"), HasSubstr("inet6 fd00:1::2/64"));

  for (int i = 0; i < 2; ++i) {
    auto ok = netlink::del_addr(*sock_, wa.index, v4);
    ASSERT_TRUE(ok) << ok.error().msg;
    ok = netlink::del_addr(*sock_, wa.index, v6);
    ASSERT_TRUE(ok) << ok.error().msg;
  }
  addrs = netlink::list_addrs(*sock_, wa.index);
  ASSERT_TRUE(addrs);
  EXPECT_FALSE(has_addr(*addrs, v4));
  EXPECT_FALSE(has_addr(*addrs, v6));
  EXPECT_THAT(ip_n("addr show dev wa0"), Not(HasSubstr("10.1.0.2")));
}

TEST_F(NetlinkTest, AddressErrorsKeepErrnoAndContext) {
  auto add = netlink::add_addr(*sock_, 4242, cidr("10.9.0.1/24"));
  ASSERT_FALSE(add);
  EXPECT_EQ(add.error().sys_errno, ENODEV);
  EXPECT_EQ(add.error().msg, "add address 10.9.0.1/24 to ifindex 4242: No such device");
  // Deleting from a link that does not exist: the address is not there, which is success.
  EXPECT_TRUE(netlink::del_addr(*sock_, 4242, cidr("10.9.0.1/24")));
}

TEST_F(NetlinkTest, AddReplaceListAndDeleteRoutes) {
  LinkInfo wa = make_veth();
  ASSERT_GT(wa.index, 0);
  ASSERT_TRUE(netlink::add_addr(*sock_, wa.index, cidr("10.1.0.2/24")));

  RouteInfo net_route{.dst = cidr("10.2.0.0/24"), .gw = ip("10.1.0.1"), .ifindex = wa.index};
  RouteInfo default_route{.gw = ip("10.1.0.1"), .ifindex = wa.index};
  for (int i = 0; i < 2; ++i) {
    auto ok = netlink::add_route(*sock_, net_route);
    ASSERT_TRUE(ok) << ok.error().msg;
    ok = netlink::add_route(*sock_, default_route);
    ASSERT_TRUE(ok) << ok.error().msg;
  }

  auto routes = netlink::list_routes(*sock_, net::Family::kV4);
  ASSERT_TRUE(routes) << routes.error().msg;
  const RouteInfo* r = find_route(*routes, cidr("10.2.0.0/24"));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->gw, ip("10.1.0.1"));
  EXPECT_EQ(r->ifindex, wa.index);
  EXPECT_EQ(r->table, 254u);
  EXPECT_EQ(r->family, net::Family::kV4);
  const RouteInfo* d = find_route(*routes, std::nullopt);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->gw, ip("10.1.0.1"));
  // The connected route of the address is listed too, without a gateway.
  const RouteInfo* connected = find_route(*routes, cidr("10.1.0.0/24"));
  ASSERT_NE(connected, nullptr);
  EXPECT_FALSE(connected->gw.has_value());
  EXPECT_THAT(ip_n("route show 10.2.0.0/24"), HasSubstr("via 10.1.0.1 dev wa0"));
  EXPECT_THAT(ip_n("route show default"), HasSubstr("via 10.1.0.1 dev wa0"));

  // REPLACE: a second add with another gateway moves the route, it does not add a second one.
  RouteInfo moved = net_route;
  moved.gw = ip("10.1.0.254");
  ASSERT_TRUE(netlink::add_route(*sock_, moved));
  routes = netlink::list_routes(*sock_);
  ASSERT_TRUE(routes);
  EXPECT_EQ(std::count_if(routes->begin(), routes->end(),
                          [](const RouteInfo& x) { return x.dst == cidr("10.2.0.0/24"); }),
            1);
  EXPECT_EQ(find_route(*routes, cidr("10.2.0.0/24"))->gw, ip("10.1.0.254"));

  for (int i = 0; i < 2; ++i) {
    auto ok = netlink::del_route(*sock_, moved);
    ASSERT_TRUE(ok) << ok.error().msg;
    ok = netlink::del_route(*sock_, default_route);
    ASSERT_TRUE(ok) << ok.error().msg;
  }
  routes = netlink::list_routes(*sock_, net::Family::kV4);
  ASSERT_TRUE(routes);
  EXPECT_EQ(find_route(*routes, cidr("10.2.0.0/24")), nullptr);
  EXPECT_EQ(find_route(*routes, std::nullopt), nullptr);
  EXPECT_EQ(ip_n("route show 10.2.0.0/24"), "");
  EXPECT_EQ(ip_n("route show default"), "");
}

TEST_F(NetlinkTest, DeleteRouteByDestinationOnly) {
  LinkInfo wa = make_veth();
  ASSERT_GT(wa.index, 0);
  ASSERT_TRUE(netlink::add_addr(*sock_, wa.index, cidr("10.1.0.2/24")));
  ASSERT_TRUE(netlink::add_route(
      *sock_, RouteInfo{.dst = cidr("10.3.0.0/16"), .gw = ip("10.1.0.1"), .ifindex = wa.index}));
  // A universe-scope gateway route must go even when only its destination is given.
  auto ok = netlink::del_route(*sock_, RouteInfo{.dst = cidr("10.3.0.0/16")});
  ASSERT_TRUE(ok) << ok.error().msg;
  EXPECT_EQ(ip_n("route show 10.3.0.0/16"), "");
}

TEST_F(NetlinkTest, Ipv6Routes) {
  LinkInfo wa = make_veth();
  ASSERT_GT(wa.index, 0);
  ASSERT_TRUE(netlink::add_addr(*sock_, wa.index, cidr("fd00:1::2/64")));
  RouteInfo route{.dst = cidr("fd00:2::/64"), .gw = ip("fd00:1::1"), .ifindex = wa.index};
  auto ok = netlink::add_route(*sock_, route);
  ASSERT_TRUE(ok) << ok.error().msg;
  ASSERT_TRUE(netlink::add_route(*sock_, route));
  auto routes = netlink::list_routes(*sock_, net::Family::kV6);
  ASSERT_TRUE(routes) << routes.error().msg;
  const RouteInfo* r = find_route(*routes, cidr("fd00:2::/64"));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->gw, ip("fd00:1::1"));
  EXPECT_EQ(r->family, net::Family::kV6);
  EXPECT_THAT(ip_n("-6 route show fd00:2::/64"), HasSubstr("via fd00:1::1 dev wa0"));
  ASSERT_TRUE(netlink::del_route(*sock_, route));
  ASSERT_TRUE(netlink::del_route(*sock_, route));
  EXPECT_EQ(ip_n("-6 route show fd00:2::/64"), "");
}

TEST_F(NetlinkTest, RouteErrorsKeepTheKernelErrno) {
  LinkInfo wa = make_veth();
  ASSERT_GT(wa.index, 0);
  // No address on wa0: the gateway is unreachable. libnl alone would say "Unspecific failure".
  auto add = netlink::add_route(
      *sock_, RouteInfo{.dst = cidr("10.4.0.0/24"), .gw = ip("10.9.9.1"), .ifindex = wa.index});
  ASSERT_FALSE(add);
  EXPECT_EQ(add.error().sys_errno, ENETUNREACH);
  EXPECT_EQ(add.error().msg, "add route 10.4.0.0/24 via 10.9.9.1 ifindex " +
                                 std::to_string(wa.index) + ": Network is unreachable");

  auto mixed =
      netlink::add_route(*sock_, RouteInfo{.dst = cidr("10.4.0.0/24"), .gw = ip("fd00::1")});
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().sys_errno, EINVAL);
}

TEST_F(NetlinkTest, SocketStaysInItsNetns) {
  LinkInfo wa = make_veth();
  ASSERT_GT(wa.index, 0);
  test::TestNetns other("other");
  auto other_handle = netns::Handle::open(other.path());
  ASSERT_TRUE(other_handle);
  auto other_sock = Socket::open_in(*other_handle);
  ASSERT_TRUE(other_sock);
  auto missing = netlink::get_link(*other_sock, "wa0");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno, ENODEV);

  // Moving the socket keeps it working (and in its netns).
  Socket moved = std::move(*sock_);
  sock_.reset();
  auto found = netlink::get_link(moved, "wa0");
  ASSERT_TRUE(found) << found.error().msg;
  EXPECT_EQ(found->index, wa.index);
}

TEST(Netns, ResolvePath) {
  EXPECT_EQ(netns::resolve_path("foo"), "/var/run/netns/foo");
  EXPECT_EQ(netns::resolve_path("/proc/1/ns/net"), "/proc/1/ns/net");
  EXPECT_EQ(netns::resolve_path("./foo"), "./foo");
}

TEST(Netns, OpenMissingKeepsEnoent) {
  auto h = netns::Handle::open("/var/run/netns/weirt-does-not-exist");
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().sys_errno, ENOENT);
  EXPECT_EQ(h.error().code, cni::Code::kKernel);
  EXPECT_THAT(h.error().msg, HasSubstr("\"/var/run/netns/weirt-does-not-exist\""));
}

TEST(Netns, RunInSwitchesAndReturns) {
  WEIR_REQUIRE_ROOT();
  test::TestNetns ns("runin");
  auto target = netns::Handle::open(ns.path());
  ASSERT_TRUE(target) << target.error().msg;
  const ino_t target_ino = target->inode().value_or(0);
  const ino_t original_ino = current_inode();
  ASSERT_NE(target_ino, 0u);
  ASSERT_NE(target_ino, original_ino);

  // fn returning Expected<T>: flattened.
  auto inside = netns::run_in(*target, []() -> Expected<ino_t> {
    auto cur = netns::Handle::current();
    if (!cur) return fail(std::move(cur.error()));
    return cur->inode();
  });
  static_assert(std::is_same_v<decltype(inside), Expected<ino_t>>);
  ASSERT_TRUE(inside) << inside.error().msg;
  EXPECT_EQ(*inside, target_ino);
  EXPECT_EQ(current_inode(), original_ino);

  // fn returning a plain value, and void.
  auto answer = netns::run_in(*target, [] { return 42; });
  static_assert(std::is_same_v<decltype(answer), Expected<int>>);
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, 42);
  bool called = false;
  auto done = netns::run_in(*target, [&] { called = current_inode() == target_ino; });
  static_assert(std::is_same_v<decltype(done), Expected<void>>);
  EXPECT_TRUE(done);
  EXPECT_TRUE(called);
  EXPECT_EQ(current_inode(), original_ino);

  // fn's own failure comes back as is, and the thread is still switched back.
  auto failed = netns::run_in(
      *target, []() -> Expected<int> { return fail(cni::sys_error(EBUSY, "inner")); });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().sys_errno, EBUSY);
  EXPECT_EQ(current_inode(), original_ino);
}

TEST(Netns, RunInFailsWithoutCallingFnForANonNetns) {
  WEIR_REQUIRE_ROOT();
  auto not_netns = netns::Handle::open("/dev/null");
  ASSERT_TRUE(not_netns);
  const ino_t original_ino = current_inode();
  bool called = false;
  auto r = netns::run_in(*not_netns, [&] { called = true; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno, EINVAL);
  EXPECT_THAT(r.error().msg, HasSubstr("enter netns \"/dev/null\""));
  EXPECT_FALSE(called);
  EXPECT_EQ(current_inode(), original_ino);
}

TEST(Netns, CreateAndRemoveNamed) {
  WEIR_REQUIRE_ROOT();
  const std::string name = "weirt-cr-" + std::to_string(::getpid());
  struct Cleanup {
    std::string name;
    ~Cleanup() { (void)netns::remove_named(name); }
  } cleanup{name};
  const std::string path = netns::resolve_path(name);

  auto created = netns::create_named(name);
  ASSERT_TRUE(created) << created.error().msg;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  auto h = netns::Handle::open(path);
  ASSERT_TRUE(h) << h.error().msg;
  EXPECT_NE(h->inode().value_or(0), current_inode());
  EXPECT_THAT(test::sh("ip netns list"), HasSubstr(name));
  // It is a usable netns: it has its own lo.
  EXPECT_THAT(test::sh("ip -n " + name + " link show lo 2>&1"), HasSubstr("lo:"));

  auto again = netns::create_named(name);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().sys_errno, EEXIST);

  auto bad = netns::create_named("a/b");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().sys_errno, EINVAL);

  ASSERT_TRUE(netns::remove_named(name));
  EXPECT_NE(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
  auto twice = netns::remove_named(name);
  EXPECT_TRUE(twice) << twice.error().msg;
  // The old handle still pins the namespace; nothing else does.
  EXPECT_NE(h->inode().value_or(0), 0u);
}

}  // namespace
}  // namespace weir
