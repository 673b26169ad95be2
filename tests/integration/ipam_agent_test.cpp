// weir-ipam's two ways of running a call (ipam/front.hpp): in weir-ipam-local, or in the
// weir-agent that serves the store. Through the real binaries, in temp folders; root only for
// the netns test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/control.hpp"
#include "lib/store/sqlite.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

class IpamAgent : public ::testing::Test {
 protected:
  void TearDown() override {
    // A stopped agent would not see its folder go.
    if (auto pid = agent::running_agent(tmp_.path())) {
      ::kill(*pid, SIGCONT);
      ::kill(*pid, SIGKILL);
    }
  }

  std::string conf(const std::string& subnet = "10.70.0.0/24") const {
    return json{{"cniVersion", "1.0.0"},
                {"name", "agentnet"},
                {"type", "weir-ipam"},
                {"ipam",
                 {{"type", "weir-ipam"},
                  {"ranges", {{{{"subnet", subnet}}}}},
                  {"dataDir", tmp_.path()}}}}
        .dump();
  }

  test::Run call(const std::string& plugin, const std::string& command, const std::string& cid,
           const std::string& cni_args = "") const {
    auto env = cni_env(command, "/var/run/netns/" + cid, cid);
    if (!cni_args.empty()) env["CNI_ARGS"] = cni_args;
    return run_plugin(plugin, env, conf());
  }
  test::Run ipam(const std::string& command, const std::string& cid,
           const std::string& cni_args = "") const {
    return call("weir-ipam", command, cid, cni_args);
  }

  std::string log() const {
    std::ifstream in(tmp_ / "agent.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Waits (bounded) until `times` agents have said they listen.
  bool wait_serving(int times = 1) const {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      const std::string l = log();
      int n = 0;
      for (size_t at = l.find("serving (pid"); at != std::string::npos;
           at = l.find("serving (pid", at + 1)) {
        ++n;
      }
      if (n >= times) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::vector<std::string> leased_to() const {
    std::vector<std::string> out;
    auto db = store::SqliteStore::open(store::database_path(tmp_.path()));
    EXPECT_TRUE(db) << db.error().msg;
    if (!db) return out;
    auto ok = db->view([&](store::Txn& t) -> Expected<void> {
      auto l = t.list_leases("");
      if (!l) return fail(l.error());
      for (const auto& lease : *l) out.push_back(lease.container_id);
      return {};
    });
    EXPECT_TRUE(ok);
    return out;
  }

  bool wait_leased(const std::string& cid) const {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      auto l = leased_to();
      if (std::find(l.begin(), l.end(), cid) != l.end()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  TempDir tmp_{"weir-ipam-agent"};
};

TEST_F(IpamAgent, FirstAddStartsAnAgentThatServesTheCallsAfterIt) {
  auto first = ipam("ADD", "c1");
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_EQ(first.json()["ips"][0]["address"], "10.70.0.2/24");
  ASSERT_TRUE(wait_serving()) << log();
  EXPECT_TRUE(agent::running_agent(tmp_.path()));

  auto second = ipam("ADD", "c2");
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_EQ(second.json()["ips"][0]["address"], "10.70.0.3/24");
  EXPECT_THAT(log(), HasSubstr("serving weir-ipam calls"));

  // The agent prints what weir-ipam-local prints: a result, and an error with its code.
  EXPECT_EQ(ipam("ADD", "c2").out, call("weir-ipam-local", "ADD", "c2").out);
  auto taken = ipam("ADD", "c9", "IP=10.70.0.3");
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_EQ(taken.json()["code"], 103) << taken.out;
  EXPECT_EQ(taken.out, call("weir-ipam-local", "ADD", "c9", "IP=10.70.0.3").out);

  auto del = ipam("DEL", "c2");
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(leased_to(), std::vector<std::string>{"c1"});
}

TEST_F(IpamAgent, BadInputAndDelStartNoAgent) {
  auto bad = run_plugin("weir-ipam", cni_env("ADD", "/var/run/netns/c1", "c1"),
                        conf("10.70.0.1/24"));  // host bits set
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.json()["code"], 7) << bad.out;
  auto del = ipam("DEL", "c1");
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  auto version = ipam("VERSION", "c1");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_TRUE(version.json()["supportedVersions"].is_array()) << version.out;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(agent::running_agent(tmp_.path()));
  EXPECT_EQ(log(), "");
}

// Once the agent has the whole call it may run it at any time, so the caller must not run it
// too: it fails with "try again later", and the runtime's DEL that follows queues behind it.
TEST_F(IpamAgent, AStuckAgentFailsTheCallWithTryAgainLaterAndRunsItWhenItWakes) {
  ASSERT_EQ(ipam("ADD", "c1").exit_code, 0);
  ASSERT_TRUE(wait_serving()) << log();
  auto pid = agent::running_agent(tmp_.path());
  ASSERT_TRUE(pid);
  ASSERT_EQ(::kill(*pid, SIGSTOP), 0);

  auto stuck = ipam("ADD", "c2");
  EXPECT_EQ(stuck.exit_code, 1);
  EXPECT_EQ(stuck.json()["code"], 11) << stuck.out;
  EXPECT_EQ(leased_to(), std::vector<std::string>{"c1"}) << "ran here as well";

  ASSERT_EQ(::kill(*pid, SIGCONT), 0);
  EXPECT_TRUE(wait_leased("c2"));
  EXPECT_EQ(ipam("DEL", "c2").exit_code, 0);
  EXPECT_EQ(leased_to(), std::vector<std::string>{"c1"});
}

TEST_F(IpamAgent, AfterTheAgentDiedCallsRunHereAndStartAnother) {
  ASSERT_EQ(ipam("ADD", "c1").exit_code, 0);
  ASSERT_TRUE(wait_serving()) << log();
  auto pid = agent::running_agent(tmp_.path());
  ASSERT_TRUE(pid);
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (agent::running_agent(tmp_.path()) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  auto add = ipam("ADD", "c2");  // its socket is still there: connect is refused
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(add.json()["ips"][0]["address"], "10.70.0.3/24");
  EXPECT_TRUE(wait_serving(2)) << log();
  EXPECT_EQ(ipam("DEL", "c2").exit_code, 0);
  EXPECT_EQ(leased_to(), std::vector<std::string>{"c1"});
}

TEST_F(IpamAgent, TheAgentExitsWhenItsDataDirIsRemoved) {
  TempDir other("weir-ipam-agent-rm");
  const std::string config = json{{"cniVersion", "1.0.0"},
                                  {"name", "agentnet"},
                                  {"type", "weir-ipam"},
                                  {"ipam",
                                   {{"type", "weir-ipam"},
                                    {"ranges", {{{{"subnet", "10.71.0.0/24"}}}}},
                                    {"dataDir", other.path() + "/data"}}}}
                                 .dump();
  ASSERT_EQ(run_plugin("weir-ipam", cni_env("ADD", "/var/run/netns/c1", "c1"), config).exit_code,
            0);
  std::optional<pid_t> pid;
  const auto up = Clock::now() + std::chrono::seconds(10);
  while (!(pid = agent::running_agent(other.path() + "/data")) && Clock::now() < up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(pid);
  std::filesystem::remove_all(other.path() + "/data");
  const auto gone = Clock::now() + std::chrono::seconds(5);
  while (::kill(*pid, 0) == 0 && Clock::now() < gone) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // An agent whose parent is not a reaping init stays a zombie: gone all the same.
    std::ifstream stat("/proc/" + std::to_string(*pid) + "/stat");
    std::string text;
    std::getline(stat, text);
    if (text.find(") Z ") != std::string::npos) break;
  }
  std::ifstream stat("/proc/" + std::to_string(*pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  EXPECT_TRUE(text.empty() || text.find(") Z ") != std::string::npos) << text;
}

// After an upgrade the running agent still has the old code: it hands the calls back, and
// exits so that the next ADD starts an agent of the new version.
TEST_F(IpamAgent, AnAgentWhoseBinaryWasReplacedHandsTheCallsBack) {
  const std::string dir = tmp_ / "bin";
  std::filesystem::create_directories(dir);
  for (const char* b : {"weir-ipam", "weir-ipam-local", "weir-agent"}) {
    std::filesystem::copy_file(bin(b), dir + "/" + b);
  }
  auto run = [&](const std::string& command, const std::string& cid) {
    auto env = cni_env(command, "/var/run/netns/" + cid, cid);
    return run_cmd(dir + "/weir-ipam", {}, std::map<std::string, std::string>(env.begin(), env.end()),
                   conf());
  };
  ASSERT_EQ(run("ADD", "c1").exit_code, 0);
  ASSERT_TRUE(wait_serving()) << log();
  auto old_pid = agent::running_agent(tmp_.path());
  ASSERT_TRUE(old_pid);
  // What a package manager does: a new file renamed over the old one.
  std::filesystem::copy_file(bin("weir-agent"), dir + "/weir-agent.new");
  std::filesystem::rename(dir + "/weir-agent.new", dir + "/weir-agent");

  auto add = run("ADD", "c2");
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(add.json()["ips"][0]["address"], "10.70.0.3/24");
  EXPECT_THAT(log(), HasSubstr("replaced on disk"));
  // The old one leaves; an ADD after that starts a new one.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (agent::running_agent(tmp_.path()) == old_pid && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(agent::running_agent(tmp_.path()), old_pid);
  ASSERT_EQ(run("ADD", "c3").exit_code, 0);
  EXPECT_TRUE(wait_serving(2)) << log();
  auto new_pid = agent::running_agent(tmp_.path());
  EXPECT_TRUE(new_pid);
  EXPECT_NE(new_pid, old_pid);
}

// IPAM reads the host's routes where it runs: an agent in another netns leaves the call to the
// caller, which gets the same answer it would have got without any agent.
TEST(IpamAgentNetns, AnAgentInAnotherNetnsLeavesTheCallToTheCaller) {
  WEIR_REQUIRE_ROOT();
  TempDir tmp("weir-ipam-agent-ns");
  TestNetns ns("ipamagent");
  const std::string config = json{{"cniVersion", "1.0.0"},
                                  {"name", "agentnet"},
                                  {"type", "weir-ipam"},
                                  {"ipam",
                                   {{"type", "weir-ipam"},
                                    {"ranges", {{{{"subnet", "10.72.0.0/24"}}}}},
                                    {"dataDir", tmp.path()}}}}
                                 .dump();
  auto env = cni_env("ADD", "/var/run/netns/c1", "c1");
  auto in_ns = run_cmd("/usr/bin/nsenter", {"--net=" + ns.path(), bin("weir-ipam")},
                       std::map<std::string, std::string>(env.begin(), env.end()), config);
  ASSERT_EQ(in_ns.exit_code, 0) << in_ns.out << in_ns.err;
  auto pid_in_ns = [&] { return agent::running_agent(tmp.path()); };
  const auto up = Clock::now() + std::chrono::seconds(10);
  while (!pid_in_ns() && Clock::now() < up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto pid = pid_in_ns();
  ASSERT_TRUE(pid);
  // Listening (its socket is there), then asked from here.
  const auto listening = Clock::now() + std::chrono::seconds(10);
  while (!std::filesystem::exists(tmp / "agent.sock") && Clock::now() < listening) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto here = run_plugin("weir-ipam", cni_env("ADD", "/var/run/netns/c2", "c2"), config);
  EXPECT_EQ(here.exit_code, 0) << here.out << here.err;
  EXPECT_EQ(here.json()["ips"][0]["address"], "10.72.0.3/24");
  std::ifstream in(tmp / "agent.log");
  std::stringstream log;
  log << in.rdbuf();
  EXPECT_THAT(log.str(), HasSubstr("from another netns run there"));
  EXPECT_THAT(log.str(), Not(HasSubstr("serving weir-ipam calls")));
  ::kill(*pid, SIGKILL);
}

}  // namespace
}  // namespace weir::test
