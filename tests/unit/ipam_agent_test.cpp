// weir-ipam's two ways of running a call (plugins/front/front.cpp): in weir-ipam-local, or in the
// weir-agent that serves the store. Through the real binaries, in temp folders; no root.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "lib/cni/fd.hpp"
#include "lib/store/sqlite.hpp"
#include "tests/support/dns_fixture.hpp"
#include "tests/support/ipam_agent_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using ::testing::HasSubstr;

class IpamAgent : public ::testing::Test {
 protected:
  std::string conf(const std::string& subnet = "10.70.0.0/24") const {
    return ipam_conf(tmp_.path(), subnet);
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

  std::string log() const { return read_file(tmp_ / "agent.log"); }
  bool wait_serving(int times = 1) const {
    return wait_until([&] { return agents_serving(tmp_.path()) >= times; });
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
    std::sort(out.begin(), out.end());
    return out;
  }

  TempDir tmp_{"weir-ipam-agent"};
  AgentReaper reaper_{tmp_.path()};
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

  // The agent answers what weir-ipam-local answers: a result, and an error with its code.
  auto same = [](const test::Run& a, const test::Run& b) {
    EXPECT_EQ(a.exit_code, b.exit_code);
    EXPECT_EQ(a.out, b.out);
    EXPECT_EQ(a.err, b.err);
  };
  same(ipam("ADD", "c2"), call("weir-ipam-local", "ADD", "c2"));
  auto taken = ipam("ADD", "c9", "IP=10.70.0.3");
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_EQ(taken.json()["code"], 103) << taken.out;
  same(taken, call("weir-ipam-local", "ADD", "c9", "IP=10.70.0.3"));

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
  // A start, even one in the background, takes this lock before anything else.
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "agent.start.lock"));
  EXPECT_FALSE(agent::running_agent(tmp_.path()));
}

// An agent that has the whole call but does not answer in time: the caller reports 11 and does
// not run the call itself, and the agent, once it wakes, does not run a call whose caller has
// gone (the runtime took that ADD as failed).
TEST_F(IpamAgent, AStuckAgentFailsTheCallWithTryAgainLaterAndDropsIt) {
  ASSERT_EQ(ipam("ADD", "c1").exit_code, 0);
  ASSERT_TRUE(wait_serving()) << log();
  // Stuck: the process that serves the calls, the agent's worker (it accepts them itself).
  auto supervisor = agent::running_agent(tmp_.path());
  ASSERT_TRUE(supervisor);
  auto pid = dns_fixture::worker_of(*supervisor);
  ASSERT_TRUE(pid);
  ASSERT_EQ(::kill(*pid, SIGSTOP), 0);

  auto stuck = ipam("ADD", "c2");
  EXPECT_EQ(stuck.exit_code, 1);
  EXPECT_EQ(stuck.json()["code"], 11) << stuck.out;
  EXPECT_EQ(leased_to(), std::vector<std::string>{"c1"}) << "ran here as well";

  ASSERT_EQ(::kill(*pid, SIGCONT), 0);
  auto next = ipam("ADD", "c3");  // served after the dropped one
  ASSERT_EQ(next.exit_code, 0) << next.out << next.err;
  EXPECT_EQ(leased_to(), (std::vector<std::string>{"c1", "c3"}));
}

// What a caller that is not weir-ipam (or a broken one) may send: nothing of it is run, and the
// agent goes on serving.
TEST_F(IpamAgent, MalformedCallsAreNotRun) {
  ASSERT_EQ(ipam("ADD", "c1").exit_code, 0);
  ASSERT_TRUE(wait_serving()) << log();
  auto ask = [&](const std::string& request) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = tmp_ / "agent.sock";
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    (void)!::write(fd.get(), request.data(), request.size());
    ::shutdown(fd.get(), SHUT_WR);
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd.get(), buf, sizeof(buf))) > 0;) got.append(buf, n);
    return got;
  };
  const std::string ns = agent::namespaces_id();
  std::string body = "CNI_COMMAND=ADD";
  body += '\0';
  body += "CNI_CONTAINERID=c2";
  body += '\0';
  body += "CNI_NETNS=/var/run/netns/c2";
  body += '\0';
  body += "CNI_IFNAME=eth0";
  body += '\0';
  body += "CNI_PATH=/nonexistent";
  body += '\0';
  body += '\0';
  body += conf();
  const std::string good = "ipam1 " + ns + " " + std::to_string(body.size()) + "\n" + body;
  EXPECT_EQ(ask("ipam1 " + ns + " " + std::to_string(body.size() + 10) + "\n" + body),
            "elsewhere\n");  // short
  EXPECT_EQ(ask("ipam1 " + ns + " 1" + std::to_string(body.size()) + "\n" + body),
            "elsewhere\n");                                         // longer than it says
  EXPECT_EQ(ask("ipam1 " + ns + " x\n" + body), "elsewhere\n");     // no length
  EXPECT_EQ(ask("ipam1 " + ns + " 99999999999\n"), "elsewhere\n");  // too big
  EXPECT_EQ(ask("ipam1 " + std::to_string(body.size()) + "\n" + body), "elsewhere\n");  // no netns
  const std::string gc = "CNI_COMMAND=GC" + body.substr(std::string("CNI_COMMAND=ADD").size());
  EXPECT_EQ(ask("ipam1 " + ns + " " + std::to_string(gc.size()) + "\n" + gc),
            "elsewhere\n");  // not ADD or DEL
  EXPECT_EQ(leased_to(), std::vector<std::string>{"c1"});
  // The same call, well formed, is run.
  EXPECT_THAT(ask(good), HasSubstr("10.70.0.3/24"));
  EXPECT_EQ(leased_to(), (std::vector<std::string>{"c1", "c2"}));
}

TEST_F(IpamAgent, AfterTheAgentDiedCallsRunHereAndStartAnother) {
  ASSERT_EQ(ipam("ADD", "c1").exit_code, 0);
  ASSERT_TRUE(wait_serving()) << log();
  auto pid = agent::running_agent(tmp_.path());
  ASSERT_TRUE(pid);
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return !agent::running_agent(tmp_.path()); }));

  auto add = ipam("ADD", "c2");  // its socket is still there: connect is refused
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(add.json()["ips"][0]["address"], "10.70.0.3/24");
  EXPECT_TRUE(wait_serving(2)) << log();
  EXPECT_EQ(ipam("DEL", "c2").exit_code, 0);
  EXPECT_EQ(leased_to(), std::vector<std::string>{"c1"});
}

TEST_F(IpamAgent, TheAgentExitsWhenItsDataDirIsRemoved) {
  const std::string data = tmp_ / "data";
  AgentReaper reaper{data};
  auto add = run_plugin("weir-ipam", cni_env("ADD", "/var/run/netns/c1", "c1"), ipam_conf(data));
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  ASSERT_TRUE(wait_until([&] { return agents_serving(data) == 1; }));
  auto pid = agent::running_agent(data);
  ASSERT_TRUE(pid);
  std::error_code ec;
  std::filesystem::remove_all(data, ec);
  EXPECT_TRUE(wait_until([&] { return exited(*pid); }, std::chrono::seconds(5)));
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
    return run_cmd(dir + "/weir-ipam", {},
                   std::map<std::string, std::string>(env.begin(), env.end()), conf());
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
  EXPECT_TRUE(wait_until([&] { return exited(*old_pid); }));
  ASSERT_EQ(run("ADD", "c3").exit_code, 0);
  EXPECT_TRUE(wait_serving(2)) << log();
  auto new_pid = agent::running_agent(tmp_.path());
  EXPECT_TRUE(new_pid);
  EXPECT_NE(new_pid, old_pid);
}

}  // namespace
}  // namespace weir::test
