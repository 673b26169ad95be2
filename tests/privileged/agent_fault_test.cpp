// weir-agent's fault isolation (issue 14), through the real binaries in private netns: the
// supervisor (the pid in agent.lock) keeps the lock and the listening socket; its worker serves
// the DNS and runs the plugin calls. A worker killed (kill -9) or aborting in a call is replaced
// at once: names resolve again within the 1 s without a new ADD, the call it died in
// fails with code 11 and is not run again, and the calls queued behind it are run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "agent/client/control.hpp"
#include "lib/cni/fd.hpp"
#include "tests/support/bridge_fixture.hpp"
#include "tests/support/dns_fixture.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using bridge::Container;
using dns_fixture::Clock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// The bound for names to resolve again, and the margin a loaded test machine gets on
// top of it (the log says what the agent measured itself).
constexpr auto kBound = 1s;
constexpr auto kMargin = 1s;

std::string make_id(unsigned n) {
  char buf[13];
  std::snprintf(buf, sizeof(buf), "%012llx", 0xfa017000000ull + n);
  return std::string(buf) + std::string(52, 'b');
}

// Whether pid waits for a flock (a "->" line of /proc/locks: id, ->, FLOCK, mode, type, pid).
bool waits_for_flock(pid_t pid) {
  std::istringstream locks(dns_fixture::read_proc_file("/proc/locks"));
  for (std::string line; std::getline(locks, line);) {
    std::istringstream f(line);
    std::string id, arrow, kind, mode, type;
    pid_t who = 0;
    if (f >> id >> arrow >> kind >> mode >> type >> who && arrow == "->" && kind == "FLOCK" &&
        who == pid) {
      return true;
    }
  }
  return false;
}

// How many connections wait in the queue of the listening socket at path (ss's Recv-Q), in
// the host netns where the agent listens.
int queued(const bridge::Host& host, const std::string& path) {
  std::istringstream out(host.exec("ss -xlnH"));
  for (std::string line; std::getline(out, line);) {
    if (line.find(path) == std::string::npos) continue;
    std::istringstream f(line);
    std::string netid, state;
    int recv_q = -1;
    if (f >> netid >> state >> recv_q) return recv_q;
  }
  return -1;
}

class AgentFault : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    if (::access("/usr/bin/dig", X_OK) != 0) GTEST_SKIP() << "dig missing (Debian: bind9-dnsutils)";
    host_.emplace();
    host_->exec("ip link set lo up");
  }
  void TearDown() override {
    if (!host_) return;
    if (lock_.get() >= 0) ::flock(lock_.get(), LOCK_UN);
    if (HasFailure()) std::cerr << "agent.log:\n" << dns_fixture::agent_log(dir());
    dns_fixture::expect_no_agent_left(dir(), !HasFailure());
  }

  const std::string& dir() const { return host_->data_dir(); }
  std::string log() const { return dns_fixture::agent_log(dir()); }

  bridge::json conf(const std::string& network, const std::string& br, const std::string& subnet) const {
    bridge::json c = bridge::bridge_conf(*host_, network, br, {subnet});
    c["isGateway"] = true;
    c["embeddedDNS"] = true;
    return c;
  }
  Container& container() {
    ctrs_.emplace_back(make_id(static_cast<unsigned>(ctrs_.size())));
    return ctrs_.back();
  }
  test::Run call(const std::string& verb, const Container& c, const bridge::json& conf, const std::string& name,
           const std::string& binary = "weir-bridge") const {
    std::map<std::string, std::string> env;
    if (!name.empty()) env["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAME=" + name;
    return host_->plugin(verb, c.path(), c.id, conf, env, "eth0", binary);
  }
  std::string add(const Container& c, const bridge::json& conf, const std::string& name) {
    test::Run r = call("ADD", c, conf, name);
    if (r.exit_code != 0) {
      ADD_FAILURE() << "ADD " << name << ": " << r.out << r.err;
      return "";
    }
    std::string a = r.json()["ips"][0]["address"];
    return a.substr(0, a.find('/'));
  }
  void del(const Container& c, const bridge::json& conf) {
    test::Run r = call("DEL", c, conf, "");
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  // Seconds from `since` until `name` resolves to `ip` from c, asked again and again; nullopt
  // when it did not within the bound and its margin.
  std::optional<double> resolves(const Container& c, const std::string& server, const std::string& name,
                                 const std::string& ip, Clock::time_point since) const {
    const auto deadline = since + kBound + kMargin;
    while (Clock::now() < deadline) {
      if (dns_fixture::dig(c.ns.name(), server, name, 1).records == std::vector<std::string>{ip}) {
        return std::chrono::duration<double>(Clock::now() - since).count();
      }
      std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
  }

  // The agent's worker, once it serves; the supervisor must be `supervisor`.
  pid_t worker(pid_t supervisor) const {
    std::optional<pid_t> w;
    auto serving = [&] { return (w = dns_fixture::worker_of(supervisor)).has_value(); };
    dns_fixture::wait_until(serving, 3s);
    return w.value_or(-1);
  }

  // Holds bridges.lock exclusively: a weir-bridge ADD then waits in the worker, shared-locking
  // it before anything is made.
  void hold_bridges_lock() {
    lock_ = UniqueFd(::open((dir() + "/bridges.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_GE(lock_.get(), 0);
    ASSERT_EQ(::flock(lock_.get(), LOCK_EX), 0);
  }
  void release_bridges_lock() { lock_ = UniqueFd(); }

  // SIGABRT, as NetnsGuard's std::abort() (no core file of it).
  static void abort_process(pid_t pid) {
    const rlimit none{0, 0};
    ::prlimit(pid, RLIMIT_CORE, &none, nullptr);
    ASSERT_EQ(::kill(pid, SIGABRT), 0);
  }

  std::optional<bridge::Host> host_;
  std::deque<Container> ctrs_;
  UniqueFd lock_;
};

TEST_F(AgentFault, AKilledWorkerIsReplacedAndNamesResolveWithinASecond) {
  const auto c = conf("fault", "wfa0", "10.93.1.0/24");
  Container& a = container();
  Container& b = container();
  ASSERT_FALSE(add(a, c, "alpha").empty());
  const std::string ip_b = add(b, c, "bravo");
  ASSERT_FALSE(ip_b.empty());
  const auto supervisor = agent::running_agent(dir());
  ASSERT_TRUE(supervisor);
  const pid_t first = worker(*supervisor);
  ASSERT_GT(first, 0);
  EXPECT_THAT(dns_fixture::read_proc_file("/proc/" + std::to_string(first) + "/cmdline"),
              HasSubstr("weir-agent: worker " + dir()));
  EXPECT_THAT(dns_fixture::dig(a.ns.name(), "10.93.1.1", "bravo").records, ElementsAre(ip_b));

  ASSERT_EQ(::kill(first, SIGKILL), 0);
  const auto killed = Clock::now();
  const auto took = resolves(a, "10.93.1.1", "bravo", ip_b, killed);
  ASSERT_TRUE(took) << "no answer within " << (kBound + kMargin).count() << " s";
  std::cerr << "names resolved again " << *took * 1000 << " ms after kill -9 of the worker\n";

  // Same agent, a new worker, which serves every record (the store's, not a new ADD's).
  EXPECT_EQ(agent::running_agent(dir()), supervisor);
  const pid_t second = worker(*supervisor);
  EXPECT_NE(second, first);
  EXPECT_THAT(dns_fixture::dig(b.ns.name(), "10.93.1.1", "alpha.fault").records, ElementsAre(a.addr()));
  EXPECT_THAT(log(), HasSubstr("killed by signal 9"));
  const std::string said = log();
  ASSERT_THAT(said, HasSubstr("serving again"));
  std::cerr << said.substr(said.rfind('\n', said.find("serving again")) + 1,
                           said.find('\n', said.find("serving again")) - said.rfind('\n', said.find("serving again")));
  EXPECT_EQ(dns_fixture::agent_processes(dir()).size(), 1u) << "the worker is no agent of its own";

  del(a, c);
  del(b, c);
  EXPECT_TRUE(dns_fixture::agent_gone(dir(), 3s)) << "idle: supervisor and worker exit";
}

TEST_F(AgentFault, AnAbortInACallFailsThatCallOnlyAndNamesStay) {
  const auto c = conf("abrt", "wfb0", "10.93.2.0/24");
  Container& a = container();
  Container& b = container();
  Container& x = container();
  ASSERT_FALSE(add(a, c, "alpha").empty());
  const std::string ip_b = add(b, c, "bravo");
  ASSERT_FALSE(ip_b.empty());
  const auto supervisor = agent::running_agent(dir());
  ASSERT_TRUE(supervisor);
  const pid_t w = worker(*supervisor);
  ASSERT_GT(w, 0);
  const auto veths = host_->veth_count();

  hold_bridges_lock();
  auto stuck = std::async(std::launch::async, [&] { return call("ADD", x, c, "xray"); });
  ASSERT_TRUE(dns_fixture::wait_until([&] { return waits_for_flock(w); }, 5s))
      << "the ADD is not inside the worker";
  abort_process(w);
  const auto aborted = Clock::now();
  const test::Run r = stuck.get();
  release_bridges_lock();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.json()["code"], 11) << r.out;
  EXPECT_THAT(r.out, HasSubstr("cut short"));

  const auto took = resolves(a, "10.93.2.1", "bravo", ip_b, aborted);
  ASSERT_TRUE(took) << "no answer within " << (kBound + kMargin).count() << " s";
  std::cerr << "names resolved again " << *took * 1000 << " ms after the abort\n";
  EXPECT_THAT(log(), HasSubstr("killed by signal 6"));

  // Not run again by the front end: nothing of it anywhere.
  EXPECT_EQ(host_->lease_count("abrt"), 2u);
  EXPECT_EQ(host_->endpoint_count("abrt"), 2u);
  EXPECT_EQ(host_->veth_count(), veths);
  EXPECT_THAT(x.ip("link show eth0"), HasSubstr("does not exist"));
  // The runtime's DEL after the failed ADD, then the next ADD: both work.
  del(x, c);
  const std::string ip_x = add(x, c, "xray");
  ASSERT_FALSE(ip_x.empty());
  EXPECT_THAT(dns_fixture::dig(a.ns.name(), "10.93.2.1", "xray").records, ElementsAre(ip_x));
  EXPECT_EQ(host_->lease_count("abrt"), 3u);
  EXPECT_EQ(agent::running_agent(dir()), supervisor);

  for (Container* k : {&a, &b, &x}) del(*k, c);
  EXPECT_TRUE(dns_fixture::agent_gone(dir(), 3s));
}

// The calls queued on the socket while the worker is in a call it dies in are run by the next
// worker: through a front end with no weir-bridge-local next to it, which could not run them.
TEST_F(AgentFault, QueuedCallsSurviveAWorkerCrash) {
  const auto c = conf("queue", "wfc0", "10.93.3.0/24");
  Container& a = container();
  Container& x = container();
  Container& y = container();
  Container& z = container();
  ASSERT_FALSE(add(a, c, "alpha").empty());
  const auto supervisor = agent::running_agent(dir());
  ASSERT_TRUE(supervisor);
  const pid_t w = worker(*supervisor);
  ASSERT_GT(w, 0);
  TempDir lone;
  const std::string front = lone.path() + "/weir-bridge";
  std::filesystem::copy_file(bin("weir-bridge"), front);

  hold_bridges_lock();
  auto in_call = std::async(std::launch::async, [&] { return call("ADD", x, c, "xray"); });
  ASSERT_TRUE(dns_fixture::wait_until([&] { return waits_for_flock(w); }, 5s));
  auto queued_y = std::async(std::launch::async, [&] { return call("ADD", y, c, "yankee", front); });
  auto queued_z = std::async(std::launch::async, [&] { return call("ADD", z, c, "zulu", front); });
  const std::string socket = agent::paths_for(dir()).socket;
  ASSERT_TRUE(dns_fixture::wait_until([&] { return queued(*host_, socket) == 2; }, 5s))
      << host_->exec("ss -xln");
  abort_process(w);
  const test::Run rx = in_call.get();
  release_bridges_lock();
  EXPECT_EQ(rx.json()["code"], 11) << rx.out << rx.err;

  const test::Run ry = queued_y.get();
  const test::Run rz = queued_z.get();
  ASSERT_EQ(ry.exit_code, 0) << ry.out << ry.err;
  ASSERT_EQ(rz.exit_code, 0) << rz.out << rz.err;
  EXPECT_EQ(host_->lease_count("queue"), 3u) << "a, y and z, once each";
  EXPECT_THAT(dns_fixture::dig(a.ns.name(), "10.93.3.1", "zulu").records, ElementsAre(z.addr()));
  EXPECT_EQ(agent::running_agent(dir()), supervisor);

  for (Container* k : {&x, &y, &z, &a}) del(*k, c);
  EXPECT_TRUE(dns_fixture::agent_gone(dir(), 3s));
}

// A worker that keeps dying is not restarted for ever: the supervisor gives up, the agent is
// gone, the calls run in the plugins, and the next ADD starts a new agent.
TEST_F(AgentFault, AWorkerThatKeepsDyingEndsTheAgent) {
  const auto c = conf("loop", "wfd0", "10.93.4.0/24");
  Container& a = container();
  Container& b = container();
  ASSERT_FALSE(add(a, c, "alpha").empty());
  const auto supervisor = agent::running_agent(dir());
  ASSERT_TRUE(supervisor);
  int kills = 0;
  for (pid_t last = -1; kills < 10; ++kills) {
    std::optional<pid_t> w;
    auto replaced = [&] { return (w = dns_fixture::worker_of(*supervisor)) && *w != last; };
    if (!dns_fixture::wait_until(replaced, 3s)) break;
    // Serving again before the next kill: each is a worker that started and then died.
    ASSERT_TRUE(dns_fixture::wait_until(
        [&] { return dns_fixture::dig(a.ns.name(), "10.93.4.1", "alpha", 1).status == "NOERROR"; }, 3s));
    last = *w;
    ASSERT_EQ(::kill(*w, SIGKILL), 0);
  }
  EXPECT_EQ(kills, 6) << "the sixth death within a minute ends the agent";
  EXPECT_TRUE(dns_fixture::agent_gone(dir(), 3s));
  EXPECT_THAT(log(), HasSubstr("giving up"));
  EXPECT_FALSE(std::filesystem::exists(agent::paths_for(dir()).socket));

  const std::string ip_b = add(b, c, "bravo");  // run here, and starts a new agent
  ASSERT_FALSE(ip_b.empty());
  const auto again = agent::running_agent(dir());
  ASSERT_TRUE(again);
  EXPECT_NE(*again, *supervisor);
  EXPECT_THAT(dns_fixture::dig(a.ns.name(), "10.93.4.1", "bravo").records, ElementsAre(ip_b));
  for (Container* k : {&a, &b}) del(*k, c);
  EXPECT_TRUE(dns_fixture::agent_gone(dir(), 3s));
}

}  // namespace
}  // namespace weir::test
