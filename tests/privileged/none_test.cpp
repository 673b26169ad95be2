// weir-none through the real binary: every verb at every cniVersion, in fresh netns.
#include <gtest/gtest.h>

#include "lib/cni/version.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"

namespace weir::test {
namespace {

std::string conf(std::string_view version) {
  return R"({"cniVersion":")" + std::string(version) + R"(","name":"lo-net","type":"weir-none"})";
}

bool lo_up(const TestNetns& ns) {
  return sh("ip -n " + ns.name() + " -o link show lo").find(",UP") != std::string::npos;
}

class NoneVersions : public ::testing::TestWithParam<std::string_view> {
 protected:
  void SetUp() override { WEIR_REQUIRE_ROOT(); }
};

TEST_P(NoneVersions, AddCheckDelInCallersVersion) {
  TestNetns ns("none");
  const auto v = GetParam();
  auto add = run_plugin("weir-none", cni_env("ADD", ns.path()), conf(v));
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  auto r = add.json();
  EXPECT_EQ(r["cniVersion"], v);
  EXPECT_TRUE(lo_up(ns));
  if (cni::at_least(v, "0.3.0")) {
    EXPECT_EQ(r["interfaces"][0]["name"], "lo");
    EXPECT_EQ(r["interfaces"][0]["sandbox"], ns.path());
    ASSERT_EQ(r["ips"].size(), 2u);
    EXPECT_EQ(r["ips"][0]["address"], "127.0.0.1/8");
    EXPECT_EQ(r["ips"][1]["address"], "::1/128");
    EXPECT_EQ(r["ips"][0].contains("version"), !cni::at_least(v, "1.0.0"));
  } else {
    EXPECT_EQ(r["ip4"]["ip"], "127.0.0.1/8");
    EXPECT_EQ(r["ip6"]["ip"], "::1/128");
    EXPECT_FALSE(r.contains("interfaces"));
  }
  EXPECT_FALSE(r.contains("dns"));

  auto check = run_plugin("weir-none", cni_env("CHECK", ns.path()), conf(v));
  if (cni::at_least(v, "0.4.0")) {
    EXPECT_EQ(check.exit_code, 0) << check.out;
    EXPECT_EQ(check.out, "");
  } else {
    EXPECT_EQ(check.exit_code, 1);
    EXPECT_EQ(check.json()["code"], 1);
  }

  auto del = run_plugin("weir-none", cni_env("DEL", ns.path()), conf(v));
  EXPECT_EQ(del.exit_code, 0) << del.out;
  EXPECT_EQ(del.out, "");
  EXPECT_FALSE(lo_up(ns));
  // DEL twice is still success.
  EXPECT_EQ(run_plugin("weir-none", cni_env("DEL", ns.path()), conf(v)).exit_code, 0);
}

TEST_P(NoneVersions, StatusAndGcOnlyFrom110) {
  const auto v = GetParam();
  auto status = run_plugin("weir-none", {{"CNI_COMMAND", "STATUS"}, {"CNI_PATH", WEIR_BIN_DIR}}, conf(v));
  std::string gc_conf = conf(v);
  gc_conf.back() = ',';
  gc_conf += R"("cni.dev/valid-attachments":[]})";
  auto gc = run_plugin("weir-none", {{"CNI_COMMAND", "GC"}, {"CNI_PATH", WEIR_BIN_DIR}}, gc_conf);
  if (cni::at_least(v, "1.1.0")) {
    EXPECT_EQ(status.exit_code, 0) << status.out;
    EXPECT_EQ(gc.exit_code, 0) << gc.out;
  } else {
    EXPECT_EQ(status.json()["code"], 1);
    EXPECT_EQ(gc.json()["code"], 1);
  }
}

INSTANTIATE_TEST_SUITE_P(AllVersions, NoneVersions, ::testing::ValuesIn(cni::kSupportedVersions),
                         [](const auto& info) {
                           std::string n(info.param);
                           for (auto& c : n) c = c == '.' ? '_' : c;
                           return "v" + n;
                         });

class None : public ::testing::Test {
 protected:
  void SetUp() override { WEIR_REQUIRE_ROOT(); }
};

TEST_F(None, DelWithNetnsGoneSucceeds) {
  std::string path;
  {
    TestNetns ns("gone");
    path = ns.path();
    ASSERT_EQ(run_plugin("weir-none", cni_env("ADD", path), conf("1.1.0")).exit_code, 0);
  }
  auto del = run_plugin("weir-none", cni_env("DEL", path), conf("1.1.0"));
  EXPECT_EQ(del.exit_code, 0) << del.out;
  auto no_netns = cni_env("DEL", path);
  no_netns.erase("CNI_NETNS");
  EXPECT_EQ(run_plugin("weir-none", no_netns, conf("1.1.0")).exit_code, 0);
}

TEST_F(None, AddIntoMissingNetnsIsUnknownContainer) {
  auto add = run_plugin("weir-none", cni_env("ADD", "/var/run/netns/weirt-does-not-exist"), conf("1.1.0"));
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_EQ(add.json()["code"], 3);
  EXPECT_NE(add.json()["msg"].get<std::string>().find("weirt-does-not-exist"), std::string::npos);
}

TEST_F(None, CheckFailsWhenLoopbackIsDown) {
  TestNetns ns("chk");
  ASSERT_EQ(run_plugin("weir-none", cni_env("ADD", ns.path()), conf("1.0.0")).exit_code, 0);
  sh("ip -n " + ns.name() + " link set lo down");
  auto check = run_plugin("weir-none", cni_env("CHECK", ns.path()), conf("1.0.0"));
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_EQ(check.json()["code"], 101);
  EXPECT_NE(check.json()["msg"].get<std::string>().find("down"), std::string::npos);
}

TEST_F(None, PassesPrevResultThrough) {
  TestNetns ns("prev");
  std::string c = R"({"cniVersion":"1.0.0","name":"n","type":"weir-none","prevResult":{"cniVersion":"1.0.0",
    "interfaces":[{"name":"eth0"}],"ips":[{"address":"10.3.0.2/24","interface":0}]}})";
  auto add = run_plugin("weir-none", cni_env("ADD", ns.path()), c);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(add.json()["ips"][0]["address"], "10.3.0.2/24");
  EXPECT_TRUE(lo_up(ns));
}

TEST(NoneErrors, BadInputGetsSpecCodesAndChangesNothing) {
  WEIR_REQUIRE_ROOT();
  TestNetns ns("bad");
  struct Case {
    std::map<std::string, std::string> env;
    std::string input;
    int code;
  };
  auto missing_netns = cni_env("ADD", ns.path());
  missing_netns.erase("CNI_NETNS");
  auto bad_ifname = cni_env("ADD", ns.path(), "ctr1", "bad/name");
  auto empty_id = cni_env("ADD", ns.path(), "");
  const Case cases[] = {
      {cni_env("ADD", ns.path()), "{\"cniVersion\":", 6},
      {cni_env("ADD", ns.path()), R"({"cniVersion":"0.9.0","name":"n","type":"weir-none"})", 1},
      {cni_env("ADD", ns.path()), R"({"cniVersion":"1.0.0","type":"weir-none"})", 7},
      {missing_netns, conf("1.0.0"), 4},
      {bad_ifname, conf("1.0.0"), 4},
      {empty_id, conf("1.0.0"), 3},
      {{{"CNI_COMMAND", "ADD"}}, conf("1.0.0"), 4},
  };
  for (const auto& c : cases) {
    auto r = run_plugin("weir-none", c.env, c.input);
    EXPECT_EQ(r.exit_code, 1) << c.input;
    auto j = r.json();
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_EQ(j["code"], c.code) << c.input << " → " << r.out;
    EXPECT_FALSE(j["msg"].get<std::string>().empty());
    EXPECT_TRUE(j.contains("cniVersion"));
  }
  EXPECT_FALSE(lo_up(ns));
}

TEST(NoneVersion, PrintsSupportedVersions) {
  auto r = run_plugin("weir-none", {{"CNI_COMMAND", "VERSION"}}, "");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.json()["supportedVersions"].size(), 7u);
}

}  // namespace
}  // namespace weir::test
