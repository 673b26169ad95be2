// weirctl driving weir-none end to end: add, check, del, gc, status and run.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"

namespace weir::test {
namespace {

namespace fs = std::filesystem;

class Weirctl : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    dir_ = fs::temp_directory_path() / ("weirctl-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "net.d");
    fs::copy_file(fs::path(WEIR_SOURCE_DIR) / "conf/none.conflist", dir_ / "net.d/10-none.conflist");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  weir::test::Run ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--cache-dir", (dir_ / "cache").string()});
    return run_cmd("weirctl", args, {{"NETCONFPATH", (dir_ / "net.d").string()}, {"CNI_PATH", WEIR_BIN_DIR}});
  }
  fs::path dir_;
};

TEST_F(Weirctl, AddCheckDelByNetworkName) {
  TestNetns ns("ctl");
  auto add = ctl({"--json", "add", "loopback-only", ns.name(), "--container-id", "c1"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_EQ(add.json()["cniVersion"], "1.1.0");
  EXPECT_EQ(add.json()["ips"][0]["address"], "127.0.0.1/8");
  EXPECT_TRUE(fs::exists(dir_ / "cache/results/loopback-only-c1-eth0"));

  auto check = ctl({"check", "loopback-only", ns.name(), "--container-id", "c1"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("ok"), std::string::npos);

  auto del = ctl({"del", "loopback-only", ns.name(), "--container-id", "c1"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_FALSE(fs::exists(dir_ / "cache/results/loopback-only-c1-eth0"));
  EXPECT_EQ(sh("ip -n " + ns.name() + " -o link show lo").find(",UP"), std::string::npos);

  auto check_gone = ctl({"check", "loopback-only", ns.name(), "--container-id", "c1"});
  EXPECT_EQ(check_gone.exit_code, 1);
  EXPECT_NE(check_gone.err.find("no cached result"), std::string::npos);
}

TEST_F(Weirctl, HumanOutputAndFilePath) {
  TestNetns ns("ctlh");
  auto add = ctl({"add", (fs::path(WEIR_SOURCE_DIR) / "conf/none.conflist").string(), ns.path()});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_NE(add.out.find("network \"loopback-only\""), std::string::npos);
  EXPECT_NE(add.out.find("127.0.0.1/8"), std::string::npos);
  EXPECT_EQ(ctl({"del", "loopback-only", ns.path()}).exit_code, 0);
}

TEST_F(Weirctl, UnknownNetworkIsAClearError) {
  auto r = ctl({"add", "nope", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no network named \"nope\""), std::string::npos);
  EXPECT_NE(r.err.find("[CNI error 7]"), std::string::npos);
  auto j = ctl({"--json", "add", "nope", "x"});
  EXPECT_EQ(j.json()["code"], 7);
}

TEST_F(Weirctl, PluginErrorsKeepTheirCode) {
  auto r = ctl({"add", "loopback-only", "/var/run/netns/weirt-missing-ns"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("[CNI error 3]"), std::string::npos) << r.err;
}

TEST_F(Weirctl, StatusAndGc) {
  TestNetns ns("ctlgc");
  ASSERT_EQ(ctl({"add", "loopback-only", ns.name(), "--container-id", "keep"}).exit_code, 0);
  std::string gone_path;
  {
    TestNetns gone("ctlgone");
    gone_path = gone.path();
    ASSERT_EQ(ctl({"add", "loopback-only", gone.name(), "--container-id", "gone"}).exit_code, 0);
  }
  auto status = ctl({"status", "loopback-only"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  auto gc = ctl({"gc", "loopback-only"});
  EXPECT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_TRUE(fs::exists(dir_ / "cache/results/loopback-only-keep-eth0"));
  EXPECT_FALSE(fs::exists(dir_ / "cache/results/loopback-only-gone-eth0"));
  EXPECT_EQ(ctl({"del", "loopback-only", ns.name(), "--container-id", "keep"}).exit_code, 0);
}

TEST_F(Weirctl, RunExecutesInsideAndCleansUp) {
  auto r = ctl({"run", "loopback-only", "--name", "web", "--", "sh", "-c",
                "ip -o addr show lo; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.out.find("127.0.0.1/8"), std::string::npos);
  EXPECT_NE(r.out.find("inet 127.0.0.1/8"), std::string::npos);  // from inside the netns
  // The result names the throw-away netns; it must be gone.
  auto at = r.out.find("/var/run/netns/weir-run-");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(r.out.substr(at, r.out.find_first_of(" \n", at) - at)));
  EXPECT_TRUE(fs::is_empty(dir_ / "cache/results"));
}

TEST_F(Weirctl, RunCleansUpOnSigterm) {
  // weirctl forwards SIGTERM to the command, then DELs and removes the netns.
  int status = 0;
  auto pid = sh("NETCONFPATH=" + (dir_ / "net.d").string() + " CNI_PATH=" WEIR_BIN_DIR " " WEIR_BIN_DIR
     "/weirctl --cache-dir " + (dir_ / "cache").string() +
     " run loopback-only -- sleep 30 >/dev/null & pid=$!; "
     "for i in $(seq 100); do pgrep -P $pid -x sleep >/dev/null && break; sleep 0.1; done; "
     "kill -TERM $pid; wait $pid; rc=$?; echo $pid; exit $rc",
     &status);
  EXPECT_EQ(status, 128 + 15);
  while (!pid.empty() && pid.back() == '\n') pid.pop_back();
  ASSERT_FALSE(pid.empty());
  EXPECT_FALSE(fs::exists("/var/run/netns/weir-run-" + pid));
  EXPECT_TRUE(fs::is_empty(dir_ / "cache/results"));
}

}  // namespace
}  // namespace weir::test
