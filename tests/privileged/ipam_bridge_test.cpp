// The reference bridge plugin (Debian's containernetworking-plugins) delegating to weir-ipam:
// weir-ipam is a plain CNI IPAM plugin that any plugin can exec. The bridge runs inside a
// private netns that plays the host, so nothing touches the real host.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "lib/store/sqlite.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using nlohmann::json;

constexpr const char* kRefBridge = "/usr/lib/cni/bridge";

class IpamRefBridge : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    if (!std::filesystem::exists(kRefBridge)) GTEST_SKIP() << kRefBridge << " is not installed";
    host_.emplace("ipamhost");
    bridge_ = "wbr" + std::to_string(::getpid() % 100000);
    conf_ = {{"cniVersion", "1.0.0"},
             {"name", "x"},
             {"type", "bridge"},
             {"bridge", bridge_},
             {"isGateway", true},
             {"ipam",
              {{"type", "weir-ipam"},
               {"ranges", {{{{"subnet", "10.77.0.0/24"}}}}},
               {"dataDir", tmp_.path()}}}};
  }
  void TearDown() override {
    if (host_) sh("ip -n " + host_->name() + " link del " + bridge_ + " 2>/dev/null");
  }

  // Runs the reference bridge in the "host" netns for a container netns.
  test::Run bridge(const std::string& command, const TestNetns& ctr, const json& conf) {
    auto env = cni_env(command, ctr.path(), ctr.name());
    env["CNI_PATH"] = std::string("/usr/lib/cni:") + WEIR_BIN_DIR;
    return run_cmd("/usr/bin/nsenter", {"--net=" + host_->path(), kRefBridge}, env, conf.dump());
  }

  size_t lease_count() {
    auto db = store::SqliteStore::open(store::database_path(tmp_.path()));
    EXPECT_TRUE(db);
    size_t n = 0;
    EXPECT_TRUE(db->view([&](store::Txn& t) -> Expected<void> {
      n = t.list_leases("x").value().size();
      return {};
    }));
    return n;
  }

  TempDir tmp_;
  std::optional<TestNetns> host_;
  std::string bridge_;
  json conf_;
};

TEST_F(IpamRefBridge, ContainersGetAddressesAndDelFreesThem) {
  TestNetns a("ipamctra");
  TestNetns b("ipamctrb");
  auto ra = bridge("ADD", a, conf_);
  ASSERT_EQ(ra.exit_code, 0) << ra.out << ra.err;
  auto rb = bridge("ADD", b, conf_);
  ASSERT_EQ(rb.exit_code, 0) << rb.out << rb.err;

  // The result lists the address on the container's interface, with our gateway.
  json ja = ra.json();
  ASSERT_EQ(ja["ips"].size(), 1u) << ra.out;
  EXPECT_EQ(ja["ips"][0]["address"], "10.77.0.2/24");
  EXPECT_EQ(ja["ips"][0]["gateway"], "10.77.0.1");
  EXPECT_EQ(rb.json()["ips"][0]["address"], "10.77.0.3/24");

  // The kernel agrees: addresses in the containers, the gateway on the bridge, and it answers.
  EXPECT_NE(sh("ip -n " + a.name() + " -4 addr show eth0").find("10.77.0.2/24"), std::string::npos);
  EXPECT_NE(sh("ip -n " + b.name() + " -4 addr show eth0").find("10.77.0.3/24"), std::string::npos);
  EXPECT_NE(sh("ip -n " + host_->name() + " -4 addr show " + bridge_).find("10.77.0.1/24"),
            std::string::npos);
  int ping = -1;
  sh("ip netns exec " + a.name() + " ping -c1 -W2 10.77.0.3 >/dev/null 2>&1", &ping);
  EXPECT_EQ(ping, 0) << "container a cannot reach container b";
  EXPECT_EQ(lease_count(), 2u);

  // CHECK goes through the bridge to weir-ipam with the prevResult.
  json check = conf_;
  check["prevResult"] = ja;
  auto rc = bridge("CHECK", a, check);
  EXPECT_EQ(rc.exit_code, 0) << rc.out << rc.err;

  for (const TestNetns* ns : {&a, &b}) {
    auto del = bridge("DEL", *ns, conf_);
    EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  }
  EXPECT_EQ(lease_count(), 0u);
  auto again = bridge("DEL", a, conf_);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
}

}  // namespace
}  // namespace weir::test
