// weirctl ipam ls / release against a store filled by the weir-ipam plugin.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using nlohmann::json;

class IpamWeirctl : public ::testing::Test {
 protected:
  void SetUp() override {
    conf_ = json{{"cniVersion", "1.0.0"},
                 {"name", "ctlnet"},
                 {"type", "weir-ipam"},
                 {"ipam",
                  {{"type", "weir-ipam"},
                   {"ranges", {{{{"subnet", "10.66.0.0/29"}}}, {{{"subnet", "fd00:66::/125"}}}}},
                   {"dataDir", tmp_.path()}}}};
    std::ofstream(tmp_ / "ctlnet.conf") << conf_.dump();
    for (auto cid : {"c1", "c2"}) {
      auto r = run_plugin("weir-ipam", cni_env("ADD", "/var/run/netns/" + std::string(cid), cid),
                          conf_.dump());
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
  }
  test::Run ctl(std::vector<std::string> args, bool json_out = false) {
    if (json_out) args.insert(args.begin(), "--json");
    return run_cmd("weirctl", args, {{"NETCONFPATH", tmp_.path()}});
  }
  TempDir tmp_;
  json conf_;
};

TEST_F(IpamWeirctl, LsShowsSubnetsLeasesAndFreeCounts) {
  auto text = ctl({"ipam", "ls", "--data-dir", tmp_.path()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("network \"ctlnet\""), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("10.66.0.3"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("2 leased, 3 free"), std::string::npos) << text.out;  // .2-.6, gw .1

  // By network config name: the store folder and the exact ranges come from the config.
  auto j = ctl({"ipam", "ls", "ctlnet"}, true);
  ASSERT_EQ(j.exit_code, 0) << j.err;
  json nets = j.json()["networks"];
  ASSERT_EQ(nets.size(), 1u) << j.out;
  EXPECT_EQ(nets[0]["name"], "ctlnet");
  EXPECT_EQ(nets[0]["leases"].size(), 4u);
  EXPECT_EQ(nets[0]["subnets"][1]["range"], "fd00:66::/125");
  EXPECT_EQ(nets[0]["subnets"][1]["free"], 4u);  // ::2-::7, gw ::1
}

TEST_F(IpamWeirctl, ReleaseByContainerOrAddress) {
  auto by_ip = ctl({"ipam", "release", "ctlnet", "--ip", "10.66.0.2"}, true);
  ASSERT_EQ(by_ip.exit_code, 0) << by_ip.err;
  ASSERT_EQ(by_ip.json()["released"].size(), 1u) << by_ip.out;
  EXPECT_EQ(by_ip.json()["released"][0]["containerId"], "c1");

  auto by_ctr = ctl({"ipam", "release", "ctlnet", "--container-id", "c2", "--ifname", "eth0"});
  ASSERT_EQ(by_ctr.exit_code, 0) << by_ctr.err;
  EXPECT_NE(by_ctr.out.find("released 10.66.0.3"), std::string::npos) << by_ctr.out;
  EXPECT_NE(by_ctr.out.find("released fd00:66::3"), std::string::npos) << by_ctr.out;

  auto left = ctl({"ipam", "ls", "ctlnet"}, true);
  ASSERT_EQ(left.json()["networks"][0]["leases"].size(), 1u) << left.out;

  auto none = ctl({"ipam", "release", "ctlnet", "--container-id", "nope"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_NE(none.out.find("no lease matched"), std::string::npos);
  auto bad = ctl({"ipam", "release", "ctlnet"});
  EXPECT_NE(bad.exit_code, 0);
}

TEST_F(IpamWeirctl, MissingStoreIsAnErrorNotANewStore) {
  auto r = ctl({"ipam", "ls", "--data-dir", tmp_ / "nothing"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "nothing"));
}

}  // namespace
}  // namespace weir::test
