// weir-host through the real binary, run inside a test netns that plays the host (nsenter --net).
// Host networking: CNI_NETNS is that netns itself. Device mode: a veth end of the test host is
// the "device" (this kernel has no dummy links). A veth dies with the netns it is in, where the
// kernel would hand a physical device back to the initial netns: DEL must succeed either way.
// The round trips and the device rollback run on both stores: SQLite, and etcd run inside the
// test host netns.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lib/cni/config.hpp"
#include "lib/cni/version.hpp"
#include "lib/store/sqlite.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/netns_etcd.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    host_.emplace("hhost");
    int rc = -1;
    // The uplink: an address and the default route on hup0. The device: hd0 (peer hd1).
    sh(ip_host("link add hup0 type veth peer name hup1") + " && " + ip_host("link set hup0 up") +
           " && " + ip_host("link set hup1 up") + " && " +
           ip_host("addr add 192.168.55.2/24 dev hup0") + " && " +
           ip_host("addr add 172.30.0.1/16 dev hup1") + " && " +
           ip_host("route add default via 192.168.55.1") + " && " +
           ip_host("link add hd0 type veth peer name hd1") + " && " + ip_host("link set hd0 up") +
           " && " + ip_host("link set hd1 up"),
       &rc);
    ASSERT_EQ(rc, 0) << "cannot set up the test host";
    // Carrier comes up asynchronously (linkwatch): wait, so that snapshots compare stable state.
    sh("for i in $(seq 50); do [ $(" + ip_host("-o link show up") +
           " | grep -c 'state UP') -ge 4 ] && exit 0; sleep 0.1; done; exit 1",
       &rc);
    ASSERT_EQ(rc, 0) << "the test host's veths have no carrier";
    conf_ = {{"cniVersion", "1.1.0"},
             {"name", "hostnet"},
             {"type", "weir-host"},
             {"dataDir", tmp_.path()}};
    dev_conf_ = {{"cniVersion", "1.1.0"},
                 {"name", "hostnet"},
                 {"type", "weir-host"},
                 {"device", "hd0"},
                 {"ipam",
                  {{"type", "weir-ipam"},
                   {"ranges", {{{{"subnet", "10.66.0.0/24"}}}}},
                   {"dataDir", tmp_.path()}}}};
  }

  // The network's records on `kind` (etcd: one in the test host, for this test).
  void use_store(StoreKind kind) {
    if (kind != StoreKind::kEtcd) return;
    etcd_.emplace(host_->name(), host_->path());
    conf_["store"] = etcd_->store_object();
    dev_conf_["store"] = etcd_->store_object();
  }

  std::string ip_host(const std::string& args) const {
    return "ip -n " + host_->name() + " " + args;
  }
  static std::string ip_in(const TestNetns& ns, const std::string& args) {
    return sh("ip -n " + ns.name() + " " + args + " 2>&1");
  }

  test::Run plugin_at(const std::string& command, const std::string& netns, const std::string& id,
                      const json& conf) const {
    return run_cmd("/usr/bin/nsenter", {"--net=" + host_->path(), bin("weir-host")},
                   cni_env(command, netns, id), conf.dump());
  }
  // Host networking: the container's netns is the host's.
  test::Run host_net(const std::string& command, const json& conf,
                     const std::string& id = "web") const {
    return plugin_at(command, host_->path(), id, conf);
  }
  test::Run device(const std::string& command, const TestNetns& ctr, const json& conf) const {
    return plugin_at(command, ctr.path(), ctr.name(), conf);
  }

  template <class F>
  void in_store(F&& f) const {
    auto db = store::SqliteStore::open(store::database_path(tmp_.path()));
    if (!db) return;
    EXPECT_TRUE(db->view([&](store::Txn& t) -> Expected<void> {
      f(t);
      return {};
    }));
  }
  size_t leases() const {
    if (etcd_) return etcd_->keys("/leases/hostnet/").size();
    size_t n = 0;
    in_store([&](store::Txn& t) { n = t.list_leases("hostnet").value().size(); });
    return n;
  }
  std::vector<store::Endpoint> endpoints() const {
    if (etcd_) return etcd_->endpoints("hostnet");
    std::vector<store::Endpoint> out;
    in_store([&](store::Txn& t) { out = t.list_endpoints("hostnet").value(); });
    return out;
  }
  // hd0 is back in the host as it was: its name, no alias of ours, up, no container address.
  void expect_device_home() const {
    const std::string link = sh(ip_host("-d link show hd0") + " 2>&1");
    EXPECT_THAT(link, HasSubstr("state UP"));
    EXPECT_THAT(link, Not(HasSubstr("weir-host-device")));
    EXPECT_THAT(sh(ip_host("addr show hd0")), Not(HasSubstr("10.66.0.")));
  }

  // No lease or endpoint record of any network left (on etcd: no key of one).
  void expect_no_records() const {
    if (etcd_) {
      EXPECT_THAT(etcd_->attachment_keys(), ::testing::IsEmpty());
      return;
    }
    in_store([&](store::Txn& t) {
      EXPECT_TRUE(t.list_leases("").value().empty());
      EXPECT_TRUE(t.list_endpoints("").value().empty());
    });
  }

  TempDir tmp_;
  std::optional<TestNetns> host_;
  std::optional<NetnsEtcd> etcd_;  // stopped before its netns goes
  json conf_;
  json dev_conf_;
};

// ---- Host networking

// (store, cniVersion)
class HostVersions : public HostTest,
                     public ::testing::WithParamInterface<std::tuple<StoreKind, std::string_view>> {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_STORE(std::get<0>(GetParam()));
    HostTest::SetUp();
    if (!HasFatalFailure() && !IsSkipped()) use_store(std::get<0>(GetParam()));
  }
};

TEST_P(HostVersions, AddCheckDelChangeNothing) {
  const std::string v(std::get<1>(GetParam()));
  conf_["cniVersion"] = v;
  const std::string links_before = sh(ip_host("-d link show"));
  const std::string addrs_before = sh(ip_host("addr show"));
  const std::string routes_before = sh(ip_host("route show"));

  auto add = host_net("ADD", conf_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  json r = add.json();
  EXPECT_EQ(r["cniVersion"], v);
  ASSERT_EQ(r["interfaces"].size(), 2u) << add.out;
  EXPECT_EQ(r["interfaces"][0]["name"], "hup0");
  EXPECT_FALSE(r["interfaces"][0].contains("sandbox"));
  EXPECT_EQ(r["interfaces"][1]["name"], "hup1");
  ASSERT_EQ(r["ips"].size(), 2u);
  EXPECT_EQ(r["ips"][0]["address"], "192.168.55.2/24");
  EXPECT_EQ(r["ips"][0]["interface"], 0);
  EXPECT_EQ(r["ips"][1]["address"], "172.30.0.1/16");
  EXPECT_EQ(r["ips"][1]["interface"], 1);

  EXPECT_EQ(sh(ip_host("-d link show")), links_before);
  EXPECT_EQ(sh(ip_host("addr show")), addrs_before);
  EXPECT_EQ(sh(ip_host("route show")), routes_before);
  // The names resolve to the primary address: the one on the default route's link.
  auto eps = endpoints();
  ASSERT_EQ(eps.size(), 1u);
  ASSERT_EQ(eps[0].ips.size(), 1u);
  EXPECT_EQ(eps[0].ips[0].str(), "192.168.55.2/24");
  EXPECT_THAT(eps[0].names, ::testing::Contains("web"));
  EXPECT_EQ(json::parse(eps[0].extra)["mode"], "host");
  EXPECT_EQ(json::parse(eps[0].extra)["hostNetwork"], true);

  auto check = host_net("CHECK", conf_);
  if (cni::at_least(v, "0.4.0")) {
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  } else {
    EXPECT_EQ(check.json()["code"], 1);
  }
  auto del = host_net("DEL", conf_);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(endpoints().empty());
  expect_no_records();
  EXPECT_EQ(host_net("DEL", conf_).exit_code, 0);
  EXPECT_EQ(sh(ip_host("-d link show")), links_before);
}

INSTANTIATE_TEST_SUITE_P(Versions, HostVersions,
                         ::testing::Combine(::testing::Values(StoreKind::kSqlite, StoreKind::kEtcd),
                                            ::testing::Values("0.3.1", "0.4.0", "1.0.0", "1.1.0")),
                         [](const auto& info) {
                           std::string n(std::get<1>(info.param));
                           for (auto& c : n) c = c == '.' ? '_' : c;
                           return std::string(store_kind_name(std::get<0>(info.param))) + "_v" + n;
                         });

// The tests that take a store run once on each.
class HostStores : public HostTest, public ::testing::WithParamInterface<StoreKind> {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_STORE(GetParam());
    HostTest::SetUp();
    if (!HasFatalFailure() && !IsSkipped()) use_store(GetParam());
  }
};

TEST_F(HostTest, AnotherNetnsIsInvalidConfigWithWhatToDo) {
  TestNetns ctr("hctr");
  auto add = device("ADD", ctr, conf_);
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_EQ(add.json()["code"], 7) << add.out;
  const std::string msg = add.json()["msg"];
  EXPECT_THAT(msg, HasSubstr("host's own netns"));
  EXPECT_THAT(msg, HasSubstr("\"device\""));
  EXPECT_TRUE(endpoints().empty());
  EXPECT_EQ(device("CHECK", ctr, conf_).json()["code"], 7);

  auto missing = plugin_at("ADD", "/var/run/netns/weirt-does-not-exist", "x", conf_);
  EXPECT_EQ(missing.json()["code"], 3) << missing.out;
}

TEST_F(HostTest, CheckWithoutAddFails) {
  auto check = host_net("CHECK", conf_);
  EXPECT_EQ(check.json()["code"], 101) << check.out;
}

TEST_F(HostTest, NoDefaultRouteMakesEveryGlobalAddressPrimary) {
  sh(ip_host("route del default"));
  auto add = host_net("ADD", conf_);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  auto eps = endpoints();
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].ips.size(), 2u);
}

TEST_F(HostTest, GcForgetsWhatIsNotValid) {
  ASSERT_EQ(host_net("ADD", conf_, "web").exit_code, 0);
  ASSERT_EQ(host_net("ADD", conf_, "db").exit_code, 0);
  json gc = conf_;
  gc["cni.dev/valid-attachments"] = {{{"containerID", "web"}, {"ifname", "eth0"}}};
  auto r = run_cmd("/usr/bin/nsenter", {"--net=" + host_->path(), bin("weir-host")},
                   {{"CNI_COMMAND", "GC"}, {"CNI_PATH", WEIR_BIN_DIR}}, gc.dump());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto eps = endpoints();
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].container_id, "web");
}

TEST_F(HostTest, StatusAndVersion) {
  for (const json& c : {conf_, dev_conf_}) {
    auto r = run_cmd("/usr/bin/nsenter", {"--net=" + host_->path(), bin("weir-host")},
                     {{"CNI_COMMAND", "STATUS"}, {"CNI_PATH", WEIR_BIN_DIR}}, c.dump());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  auto v = run_plugin("weir-host", {{"CNI_COMMAND", "VERSION"}}, "");
  ASSERT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.json()["supportedVersions"].size(), cni::kSupportedVersions.size());
}

// ---- Device mode

TEST_P(HostStores, DeviceMovesInAndBackAndDelIsIdempotent) {
  TestNetns ctr("hctr");
  sh(ip_host("link set hd0 alias uplink-b"));
  auto add = device("ADD", ctr, dev_conf_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  json r = add.json();
  ASSERT_EQ(r["interfaces"].size(), 1u);
  EXPECT_EQ(r["interfaces"][0]["name"], "eth0");
  EXPECT_EQ(r["interfaces"][0]["sandbox"], ctr.path());
  EXPECT_EQ(r["ips"][0]["address"], "10.66.0.2/24");

  EXPECT_THAT(sh(ip_host("link show hd0") + " 2>&1"), HasSubstr("does not exist"));
  const std::string link = ip_in(ctr, "-d link show eth0");
  EXPECT_THAT(link, HasSubstr("alias weir-host-device:hd0"));
  EXPECT_THAT(link, HasSubstr("state UP"));
  EXPECT_THAT(link, HasSubstr("eth0@"));
  EXPECT_THAT(ip_in(ctr, "-4 addr show eth0"), HasSubstr("10.66.0.2/24"));
  auto eps = endpoints();
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].host_ifname, "hd0");
  EXPECT_EQ(json::parse(eps[0].extra)["mode"], "device");

  auto check = device("CHECK", ctr, dev_conf_);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  auto del = device("DEL", ctr, dev_conf_);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  expect_device_home();
  EXPECT_THAT(sh(ip_host("-d link show hd0")), HasSubstr("alias uplink-b"));
  EXPECT_THAT(ip_in(ctr, "link show eth0"), HasSubstr("does not exist"));
  EXPECT_EQ(leases(), 0u);
  EXPECT_TRUE(endpoints().empty());
  expect_no_records();
  // The reference host-device's second DEL fails (containernetworking/plugins#1196); ours not.
  auto again = device("DEL", ctr, dev_conf_);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  expect_device_home();

  // And it can be taken again.
  auto re = device("ADD", ctr, dev_conf_);
  EXPECT_EQ(re.exit_code, 0) << re.out;
  EXPECT_EQ(device("DEL", ctr, dev_conf_).exit_code, 0);
  expect_no_records();
}

// The device's name was taken in the host while it was in the container: DEL still brings it
// back (under a name of its own) and releases the lease and the record, instead of failing on
// every retry.
TEST_F(HostTest, DeviceDelSucceedsWhenItsNameWasTaken) {
  TestNetns ctr("hctr");
  auto add = device("ADD", ctr, dev_conf_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  sh(ip_host("link add hd0 type veth peer name hd0p"));
  auto del = device("DEL", ctr, dev_conf_);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_THAT(ip_in(ctr, "link show eth0"), HasSubstr("does not exist"));
  EXPECT_THAT(sh(ip_host("link show") + " 2>&1"), HasSubstr("weirdev"));  // back, renamed
  EXPECT_EQ(leases(), 0u);
  EXPECT_TRUE(endpoints().empty());
}

TEST_F(HostTest, DeviceByHwaddr) {
  TestNetns ctr("hctr");
  sh(ip_host("link set hd0 address 02:00:00:00:dd:01"));
  json c = dev_conf_;
  c.erase("device");
  c["hwaddr"] = "02:00:00:00:DD:01";
  auto add = device("ADD", ctr, c);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(add.json()["interfaces"][0]["mac"], "02:00:00:00:dd:01");
  EXPECT_THAT(ip_in(ctr, "-d link show eth0"), HasSubstr("alias weir-host-device:hd0"));
  EXPECT_EQ(device("DEL", ctr, c).exit_code, 0);
  expect_device_home();
}

TEST_F(HostTest, DeviceWithoutIpamIsL2Only) {
  TestNetns ctr("hctr");
  json c = dev_conf_;
  c.erase("ipam");
  c["dataDir"] = tmp_.path();
  auto add = device("ADD", ctr, c);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_FALSE(add.json().contains("ips"));
  EXPECT_THAT(ip_in(ctr, "link show eth0"), HasSubstr("state UP"));
  EXPECT_EQ(device("CHECK", ctr, c).exit_code, 0);
  EXPECT_EQ(device("DEL", ctr, c).exit_code, 0);
  expect_device_home();
}

TEST_F(HostTest, DeviceDelSucceedsWhenTheNetnsIsGone) {
  std::string path, id;
  {
    TestNetns ctr("hctr");
    path = ctr.path();
    id = ctr.name();
    ASSERT_EQ(device("ADD", ctr, dev_conf_).exit_code, 0);
  }
  // At once, while the kernel may still be tearing the netns down (cleanup_net is deferred).
  auto del = plugin_at("DEL", path, id, dev_conf_);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(leases(), 0u);
  EXPECT_TRUE(endpoints().empty());
  // A veth dies with its netns, and its peer with it; DEL still succeeds afterwards.
  int gone = -1;
  sh("for i in $(seq 50); do " + ip_host("link show hd1") +
         " >/dev/null 2>&1 || exit 0; sleep 0.1; done; exit 1",
     &gone);
  EXPECT_EQ(gone, 0) << "hd1 outlived its peer's netns";
  EXPECT_EQ(plugin_at("DEL", path, id, dev_conf_).exit_code, 0);
  EXPECT_EQ(plugin_at("DEL", "", id, dev_conf_).exit_code, 0);
}

TEST_P(HostStores, DeviceAddFailureRollsBack) {
  TestNetns ctr("hctr");
  sh(ip_host("link set hd0 alias uplink-b"));
  json bad = dev_conf_;
  bad["ipam"]["routes"] = {{{"dst", "10.99.0.0/16"}, {"gw", "192.0.2.1"}}};
  auto add = device("ADD", ctr, bad);
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_THAT(add.json()["msg"].get<std::string>(), HasSubstr("10.99.0.0/16"));
  expect_device_home();
  EXPECT_THAT(sh(ip_host("-d link show hd0")), HasSubstr("alias uplink-b"));
  EXPECT_EQ(leases(), 0u);
  EXPECT_TRUE(endpoints().empty());

  // The name is taken in the container: the device never leaves.
  sh("ip -n " + ctr.name() + " link add eth0 type veth peer name other0");
  auto taken = device("ADD", ctr, dev_conf_);
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_THAT(taken.json()["msg"].get<std::string>(),
              HasSubstr("\"eth0\" already exists in the container"));
  expect_device_home();
  EXPECT_EQ(leases(), 0u);
  // DEL of that attachment leaves the container's own eth0 alone.
  EXPECT_EQ(device("DEL", ctr, dev_conf_).exit_code, 0);
  EXPECT_THAT(ip_in(ctr, "link show eth0"), HasSubstr("eth0@other0"));
  expect_no_records();
}

INSTANTIATE_TEST_SUITE_P(Stores, HostStores,
                         ::testing::Values(StoreKind::kSqlite, StoreKind::kEtcd),
                         [](const auto& info) { return std::string(store_kind_name(info.param)); });

TEST_F(HostTest, DeviceCheckFindsWhatChanged) {
  TestNetns ctr("hctr");
  ASSERT_EQ(device("ADD", ctr, dev_conf_).exit_code, 0);
  sh("ip -n " + ctr.name() + " addr del 10.66.0.2/24 dev eth0");
  auto check = device("CHECK", ctr, dev_conf_);
  EXPECT_EQ(check.json()["code"], 101) << check.out;
  EXPECT_THAT(check.json()["msg"].get<std::string>(), HasSubstr("10.66.0.2/24"));
  sh("ip -n " + ctr.name() + " addr add 10.66.0.2/24 dev eth0");
  EXPECT_EQ(device("CHECK", ctr, dev_conf_).exit_code, 0);
  sh("ip -n " + ctr.name() + " link set eth0 alias something");
  EXPECT_EQ(device("CHECK", ctr, dev_conf_).json()["code"], 101);
}

TEST_F(HostTest, DeviceGcMovesStaleDevicesBack) {
  TestNetns ctr("hctr");
  ASSERT_EQ(device("ADD", ctr, dev_conf_).exit_code, 0);
  json gc = dev_conf_;
  gc["cni.dev/valid-attachments"] = json::array();
  auto r = run_cmd("/usr/bin/nsenter", {"--net=" + host_->path(), bin("weir-host")},
                   {{"CNI_COMMAND", "GC"}, {"CNI_PATH", WEIR_BIN_DIR}}, gc.dump());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_device_home();
  EXPECT_EQ(leases(), 0u);
  EXPECT_TRUE(endpoints().empty());
}

TEST_F(HostTest, BadInputGetsItsCodeAndChangesNothing) {
  TestNetns ctr("hctr");
  struct Case {
    json conf;
    int code;
    bool host_net;
  };
  json both = dev_conf_;
  both["hwaddr"] = "02:00:00:00:dd:01";
  json missing = dev_conf_;
  missing["device"] = "nope0";
  json no_mac = dev_conf_;
  no_mac.erase("device");
  no_mac["hwaddr"] = "02:00:00:00:ee:ee";
  json lo = dev_conf_;
  lo["device"] = "lo";
  json kernelpath = dev_conf_;
  kernelpath["kernelpath"] = "/sys/devices/pci0000:00/0000:00:19.0/net/eth0";
  json pci = dev_conf_;
  pci.erase("device");
  pci["pciBusID"] = "0000:00:19.0";
  json ipam_host = conf_;
  ipam_host["ipam"] = dev_conf_["ipam"];
  json bad_dev = dev_conf_;
  bad_dev["device"] = "bad/name";
  json bad_mac = dev_conf_;
  bad_mac.erase("device");
  bad_mac["hwaddr"] = "zz";
  const Case cases[] = {
      {both, 7, false},       {missing, 7, false},  {no_mac, 7, false},   {lo, 7, false},
      {kernelpath, 2, false}, {pci, 2, false},      {ipam_host, 7, true}, {bad_dev, 7, false},
      {bad_mac, 7, false},    {dev_conf_, 7, true},  // device mode into the host's own netns
  };
  for (const auto& c : cases) {
    auto r = c.host_net ? host_net("ADD", c.conf) : device("ADD", ctr, c.conf);
    EXPECT_EQ(r.exit_code, 1) << c.conf;
    EXPECT_EQ(r.json()["code"], c.code) << c.conf << " → " << r.out;
  }
  expect_device_home();
  EXPECT_EQ(leases(), 0u);
  EXPECT_TRUE(endpoints().empty());
  EXPECT_THAT(ip_in(ctr, "link show"), Not(HasSubstr("eth0")));
}

// conf/host.conflist and conf/host-device.conflist, with the test's store and device.
json example(const std::string& file) {
  std::ifstream in(std::filesystem::path(WEIR_SOURCE_DIR) / "conf" / file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto list = cni::parse_conflist(text);
  EXPECT_TRUE(list) << file << ": " << (list ? "" : list.error().msg);
  if (!list || list->plugins.size() != 1) return json::object();
  json c = list->plugins[0];
  c["cniVersion"] = list->cni_version;
  c["name"] = "hostnet";
  return c;
}

TEST_F(HostTest, ExampleConflistsWork) {
  json h = example("host.conflist");
  h["dataDir"] = tmp_.path();
  auto add = host_net("ADD", h);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(host_net("CHECK", h).exit_code, 0);
  EXPECT_EQ(host_net("DEL", h).exit_code, 0);

  json d = example("host-device.conflist");
  d["device"] = "hd0";
  d["ipam"]["dataDir"] = tmp_.path();
  TestNetns ctr("hctr");
  auto dadd = device("ADD", ctr, d);
  ASSERT_EQ(dadd.exit_code, 0) << dadd.out << dadd.err;
  EXPECT_EQ(dadd.json()["ips"][0]["address"], "10.20.0.2/24");
  EXPECT_THAT(ip_in(ctr, "route show default"), HasSubstr("default via 10.20.0.1 dev eth0"));
  EXPECT_EQ(device("CHECK", ctr, d).exit_code, 0);
  EXPECT_EQ(device("DEL", ctr, d).exit_code, 0);
  expect_device_home();
  EXPECT_EQ(leases(), 0u);
}

}  // namespace
}  // namespace weir::test
