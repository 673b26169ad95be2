// weir-ipam on a network whose "store" is etcd, through the real binaries: weir-ipam (the front
// end) → weir-ipam-local (static) → weir-cluster (linked with the etcd store), whose first ADD
// starts weir-cluster's weir-agent, which runs the calls after it on its kept etcd store. Four
// data dirs stand for four hosts sharing one etcd. What the cluster holds is read back with
// etcdctl, not with weir's own code. No root: etcd runs on 127.0.0.1
// (tests/support/etcd_fixture.hpp).
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "lib/cni/fd.hpp"
#include "tests/support/etcd_fixture.hpp"
#include "tests/support/ipam_agent_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kHosts = 4;
constexpr int kAdds = 64;

class IpamEtcd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (EtcdCluster::available()) etcd_ = new EtcdCluster();
  }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
  }
  void SetUp() override {
    WEIR_REQUIRE_ETCD();
    ASSERT_NE(etcd_, nullptr);
    for (int i = 0; i < etcd_->size(); ++i) {
      if (!etcd_->running(i)) etcd_->start(i);
    }
    // A prefix of its own per test: the suite shares one etcd.
    prefix_ =
        "/weirt-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  // A long attempt by default: 64 plugin processes at once on a small shared machine (and the
  // tests beside this one) may keep one etcd request waiting for seconds. The bound itself is
  // NoEtcdIsTryAgainLaterNamingTheEndpoints's business.
  json store(int timeout_ms = 15000, std::vector<std::string> endpoints = {}) const {
    if (endpoints.empty()) endpoints = etcd_->endpoints();
    return {
        {"type", "etcd"}, {"endpoints", endpoints}, {"prefix", prefix_}, {"timeoutMs", timeout_ms}};
  }
  std::string config(int host, const json& st) const {
    return json{{"cniVersion", "1.1.0"},
                {"name", "overlay"},
                {"type", "weir-ipam"},
                {"store", st},
                {"ipam",
                 {{"type", "weir-ipam"},
                  {"ranges", {{{{"subnet", "10.77.0.0/24"}}}}},
                  {"dataDir", hosts_[host].path()}}}}
        .dump();
  }
  std::string config(int host) const {
    json st = store();
    st["host"] = "host-" + std::to_string(host);
    return config(host, st);
  }

  test::Run call(const std::string& command, const std::string& cid, const std::string& conf) {
    return run_plugin("weir-ipam", cni_env(command, "/var/run/netns/" + cid, cid), conf);
  }
  test::Run ipam(const std::string& command, const std::string& cid, int host) {
    return call(command, cid, config(host));
  }

  // The leases the cluster holds: address → its record, read with etcdctl.
  std::map<std::string, json> leases() const {
    std::map<std::string, json> out;
    std::istringstream lines(
        etcd_->etcdctl({"get", prefix_ + "/leases/", "--prefix", "--print-value-only"}));
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      const json lease = json::parse(line, nullptr, false);
      EXPECT_FALSE(lease.is_discarded()) << line;
      if (!lease.is_discarded()) out[lease.value("address", "")] = lease;
    }
    return out;
  }

  // Runs one call per container id at once, host i % kHosts each; returns the runs.
  std::vector<test::Run> at_once(const std::string& command, int n) {
    std::vector<std::future<test::Run>> runs;
    for (int i = 0; i < n; ++i) {
      runs.push_back(std::async(std::launch::async, [this, command, i] {
        return ipam(command, "c" + std::to_string(i), i % kHosts);
      }));
    }
    std::vector<test::Run> out;
    for (auto& r : runs) out.push_back(r.get());
    return out;
  }

  static EtcdCluster* etcd_;
  std::string prefix_;
  // The agent of a host, once its log says it serves: its supervisor's pid.
  std::optional<pid_t> agent_of(int host) const {
    const std::string dir = hosts_[host].path();
    if (!wait_until([&] { return agents_serving(dir) > 0 && agent::running_agent(dir); })) {
      return std::nullopt;
    }
    return agent::running_agent(dir);
  }
  std::string agent_log(int host) const { return read_file(hosts_[host].path() + "/agent.log"); }

  TempDir hosts_[kHosts] = {TempDir("weirt-etcd-h0"), TempDir("weirt-etcd-h1"),
                            TempDir("weirt-etcd-h2"), TempDir("weirt-etcd-h3")};
  AgentReaper reapers_[kHosts] = {
      {hosts_[0].path()}, {hosts_[1].path()}, {hosts_[2].path()}, {hosts_[3].path()}};
};

EtcdCluster* IpamEtcd::etcd_ = nullptr;

TEST_F(IpamEtcd, SixtyFourAddsFromFourHostsGetDistinctAddresses) {
  const auto adds = at_once("ADD", kAdds);
  std::set<std::string> got;
  for (const auto& r : adds) {
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    got.insert(r.json()["ips"][0]["address"].get<std::string>());
  }
  EXPECT_EQ(got.size(), size_t(kAdds)) << "an address was handed out twice";
  const auto held = leases();
  EXPECT_EQ(held.size(), size_t(kAdds));
  std::map<std::string, int> per_host;
  for (const auto& [address, lease] : held) ++per_host[lease.value("host", "")];
  for (int h = 0; h < kHosts; ++h) EXPECT_EQ(per_host["host-" + std::to_string(h)], kAdds / kHosts);
  // Nothing of it in the hosts' own folders: no SQLite store was made.
  for (const auto& h : hosts_) EXPECT_FALSE(std::filesystem::exists(h / "weir.db"));

  // ADD again is idempotent; DEL frees; DEL again is fine.
  auto again = ipam("ADD", "c0", 0);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(leases().size(), size_t(kAdds));
  for (const auto& r : at_once("DEL", kAdds)) EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const auto& r : at_once("DEL", 4)) EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(leases().empty());
}

// GC on one host frees that host's leases that its runtime no longer lists, and no other host's.
TEST_F(IpamEtcd, GcFreesOnlyItsOwnHostsLeases) {
  for (int i = 0; i < 8; ++i) ASSERT_EQ(ipam("ADD", "c" + std::to_string(i), i % 2).exit_code, 0);
  auto gc_env = cni_env("GC", "", "");
  gc_env.erase("CNI_NETNS");
  gc_env.erase("CNI_CONTAINERID");
  gc_env.erase("CNI_IFNAME");
  json conf = json::parse(config(0));
  conf["cni.dev/valid-attachments"] = json::array({{{"containerID", "c0"}, {"ifname", "eth0"}}});
  auto gc = run_plugin("weir-ipam", gc_env, conf.dump());
  ASSERT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  std::set<std::string> left;
  for (const auto& [address, lease] : leases()) left.insert(lease.value("container_id", ""));
  EXPECT_EQ(left, (std::set<std::string>{"c0", "c1", "c3", "c5", "c7"}));
}

// etcd restarted while 64 ADDs run: none gets an address another one has; a call that could not
// reach etcd failed with 11 (try again later). DEL and GC then leave no lease.
TEST_F(IpamEtcd, AnEtcdRestartInTheMiddleHandsOutNoAddressTwice) {
  std::vector<std::future<test::Run>> runs;
  for (int i = 0; i < kAdds; ++i) {
    if (i == kAdds / 2) {
      etcd_->stop(0);
      etcd_->start(0);
    }
    runs.push_back(std::async(std::launch::async, [this, i] {
      return ipam("ADD", "c" + std::to_string(i), i % kHosts);
    }));
  }
  std::map<std::string, std::string> owner;  // address → container of a successful ADD
  int failed = 0;
  for (int i = 0; i < kAdds; ++i) {
    const test::Run r = runs[size_t(i)].get();
    if (r.exit_code != 0) {
      ++failed;
      EXPECT_EQ(r.json()["code"], 11) << r.out << r.err;
      continue;
    }
    const std::string address = r.json()["ips"][0]["address"];
    EXPECT_FALSE(owner.contains(address)) << address << " twice";
    owner[address] = "c" + std::to_string(i);
  }
  auto held = leases();
  for (const auto& [cidr, cid] : owner) {
    const std::string address = cidr.substr(0, cidr.find('/'));
    ASSERT_TRUE(held.contains(address)) << address;
    EXPECT_EQ(held[address].value("container_id", ""), cid);
  }
  std::cout << "restart: " << owner.size() << " ADDs served, " << failed << " told to try again\n";
  for (const auto& r : at_once("DEL", kAdds)) EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(leases().empty());
}

// No endpoint answers: code 11 naming each, and nothing left in the host's folder. One endpoint
// refuses (etcd stopped), the other accepts connections and never answers (a socket of ours that
// listens and never accepts): only timeoutMs ends that one. Without it the call would hang for
// good, so the bound below is loose on purpose (plugin processes start slowly under the
// sanitizers and the tests beside this one); the client's own test holds the timeout tighter.
TEST_F(IpamEtcd, NoEtcdIsTryAgainLaterNamingTheEndpoints) {
  UniqueFd silent(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(silent.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(silent.get(), 16), 0);
  ASSERT_EQ(::getsockname(silent.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string quiet = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const json st = store(300, {quiet, etcd_->endpoint(0)});
  etcd_->stop(0);
  const auto start = std::chrono::steady_clock::now();
  auto r = call("ADD", "c1", config(0, st));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.json()["code"], 11) << r.out;
  const std::string msg = r.json().value("msg", "") + r.json().value("details", "");
  EXPECT_NE(msg.find(quiet + " (timed out"), std::string::npos) << msg;
  EXPECT_NE(msg.find(etcd_->endpoint(0)), std::string::npos) << msg;
  EXPECT_LT(took, 60s) << "not bounded by timeoutMs";
  EXPECT_TRUE(std::filesystem::is_empty(hosts_[0].path())) << "left something in the data dir";
}

TEST_F(IpamEtcd, ABadStoreObjectIsInvalidConfigNamingTheField) {
  const std::pair<json, std::string> cases[] = {
      {json{{"type", "etcd"}}, "store.endpoints"},
      {json{{"type", "etcd"}, {"endpoints", {"127.0.0.1:2379"}}}, "store.endpoints[0]"},
      {json{{"type", "etcd"}, {"endpoints", {"http://127.0.0.1:1"}}, {"prefix", "weir"}},
       "store.prefix"},
      {json{{"type", "etcd"}, {"endpoints", {"http://127.0.0.1:1"}}, {"timeoutMs", 0}},
       "store.timeoutMs"},
      {json{{"type", "etcd"}, {"endpoints", {"http://127.0.0.1:1"}}, {"tls", {{"ca", "rel.pem"}}}},
       "store.tls.ca"},
      {json{{"type", "etcd"}, {"endpoints", {"http://127.0.0.1:1"}}, {"user", "x"}}, "store.user"},
      {json{{"type", "consul"}}, "store.type"},
      {json("etcd"), "store"},
  };
  for (const auto& [st, field] : cases) {
    SCOPED_TRACE(st.dump());
    auto r = call("ADD", "c1", config(0, st));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.json()["code"], 7) << r.out;
    EXPECT_NE(r.json().value("msg", "").find(field), std::string::npos) << r.out;
    EXPECT_TRUE(std::filesystem::is_empty(hosts_[0].path()));
  }
}

// The first ADD runs in the plugin's process (weir-cluster) and starts weir-cluster's weir-agent
// for the data dir; the calls after it run there, on the etcd store it keeps open, and answer as
// the process does. The host is present in etcd (on a lease the agent renews) while it runs. A
// record changed behind the agent's back (the cursor another writer moved) is read again.
TEST_F(IpamEtcd, TheFirstAddStartsAnAgentThatRunsTheEtcdCalls) {
  auto first = ipam("ADD", "c1", 0);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_EQ(first.json()["ips"][0]["address"], "10.77.0.2/24");
  const auto pid = agent_of(0);
  ASSERT_TRUE(pid) << agent_log(0);
  const std::string proc = "/proc/" + std::to_string(*pid);
  EXPECT_EQ(std::filesystem::read_symlink(proc + "/exe").filename(), "weir-cluster");
  EXPECT_EQ(read_file(proc + "/comm"), "weir-agent\n");

  auto second = ipam("ADD", "c2", 0);
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_EQ(second.json()["ips"][0]["address"], "10.77.0.3/24");
  EXPECT_THAT(agent_log(0), ::testing::HasSubstr("serving weir-ipam calls"));
  EXPECT_THAT(agent_log(0), ::testing::HasSubstr("keeping the etcd store of store open"));
  // The same answer as the process path gives (an idempotent ADD), and an error with its code.
  const auto local = [&](const std::string& command, const std::string& cid, std::string args) {
    auto env = cni_env(command, "/var/run/netns/" + cid, cid);
    if (!args.empty()) env["CNI_ARGS"] = args;
    return run_plugin("weir-ipam-local", env, config(0));
  };
  const auto through_agent = [&](const std::string& command, const std::string& cid,
                                 std::string args) {
    auto env = cni_env(command, "/var/run/netns/" + cid, cid);
    if (!args.empty()) env["CNI_ARGS"] = args;
    return run_plugin("weir-ipam", env, config(0));
  };
  for (const auto& [cid, args] :
       {std::pair<std::string, std::string>{"c2", ""}, {"c9", "IP=10.77.0.3"}}) {
    const auto a = through_agent("ADD", cid, args);
    const auto p = local("ADD", cid, args);
    EXPECT_EQ(a.exit_code, p.exit_code) << cid;
    EXPECT_EQ(a.out, p.out) << cid;
  }
  EXPECT_EQ(through_agent("ADD", "c9", "IP=10.77.0.3").json()["code"], 103);

  // Present, on an etcd lease: what `etcdctl lease list` holds.
  const json presence = json::parse(
      etcd_->etcdctl({"get", prefix_ + "/hosts/host-0", "--print-value-only"}), nullptr, false);
  ASSERT_TRUE(presence.is_object()) << etcd_->etcdctl({"get", prefix_ + "/hosts/", "--prefix"});
  // Its pid is the agent's worker's, the process that runs the calls.
  EXPECT_EQ(read_file("/proc/" + std::to_string(presence.value("pid", 0)) + "/comm"),
            "weir-agent\n");
  const json kv = json::parse(etcd_->etcdctl({"get", prefix_ + "/hosts/host-0", "-w", "json"}));
  EXPECT_NE(kv["kvs"][0].value("lease", int64_t{0}), 0);

  // Another host leases the address after the agent's cursor (its first ADD, in its own
  // process): the agent resumes from the cursor it remembers and does not hand that address
  // out again — the lease keys are read, not remembered.
  auto other = ipam("ADD", "o1", 1);
  ASSERT_EQ(other.exit_code, 0) << other.out << other.err;
  EXPECT_EQ(other.json()["ips"][0]["address"], "10.77.0.4/24");
  auto after = ipam("ADD", "c3", 0);
  ASSERT_EQ(after.exit_code, 0) << after.out << after.err;
  EXPECT_EQ(after.json()["ips"][0]["address"], "10.77.0.5/24");

  // DEL through the agent frees; the other leases stay.
  ASSERT_EQ(ipam("DEL", "c2", 0).exit_code, 0);
  EXPECT_EQ(leases().size(), 3u);
  EXPECT_FALSE(std::filesystem::exists(hosts_[0] / "weir.db")) << "the agent made a SQLite store";
}

// etcd goes away under a running agent: its calls fail with 11 naming the endpoint within the
// config's timeoutMs (no second wait in a plugin process), and once etcd is back the same agent
// serves again.
TEST_F(IpamEtcd, AnAgentWhoseEtcdIsGoneSaysTryAgainLaterAndRecovers) {
  json st = store(500);
  st["host"] = "host-0";
  const std::string conf = config(0, st);
  ASSERT_EQ(call("ADD", "c1", conf).exit_code, 0);
  const auto pid = agent_of(0);
  ASSERT_TRUE(pid) << agent_log(0);
  ASSERT_EQ(call("ADD", "c2", conf).exit_code, 0);

  etcd_->stop(0);
  const auto start = std::chrono::steady_clock::now();
  auto r = call("ADD", "c3", conf);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.json()["code"], 11) << r.out;
  EXPECT_NE(r.json().value("msg", "").find(etcd_->endpoint(0)), std::string::npos) << r.out;
  EXPECT_LT(took, 8s) << "more than one wait of timeoutMs (500 ms)";
  EXPECT_EQ(agent::running_agent(hosts_[0].path()), pid) << "the agent gave up";

  etcd_->start(0);
  auto back = call("ADD", "c3", conf);
  ASSERT_EQ(back.exit_code, 0) << back.out << back.err;
  EXPECT_EQ(back.json()["ips"][0]["address"], "10.77.0.4/24");
  EXPECT_EQ(agent::running_agent(hosts_[0].path()), pid);
  EXPECT_EQ(leases().size(), 3u);
}

// A static weir-agent (started for a SQLite network in the same data dir) has no etcd store: it
// passes an etcd network's calls on, and they run in weir-cluster's process, correct if slower.
TEST_F(IpamEtcd, AStaticAgentPassesEtcdCallsOn) {
  json sqlite_conf = json::parse(config(0));
  sqlite_conf.erase("store");
  sqlite_conf["name"] = "local";
  auto local = call("ADD", "l1", sqlite_conf.dump());
  ASSERT_EQ(local.exit_code, 0) << local.out << local.err;
  const auto pid = agent_of(0);
  ASSERT_TRUE(pid);
  EXPECT_NE(std::filesystem::read_symlink("/proc/" + std::to_string(*pid) + "/exe").filename(),
            "weir-cluster");
  for (const char* cid : {"c1", "c2"}) {
    auto r = ipam("ADD", cid, 0);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  EXPECT_EQ(leases().size(), 2u);
  EXPECT_EQ(agent::running_agent(hosts_[0].path()), pid);
  EXPECT_THAT(agent_log(0), ::testing::Not(::testing::HasSubstr("etcd store")));
}

// After a reboot (another boot id recorded) the first calls release what this host leased to
// namespaces that are gone: 100 leases are more than etcd takes in one txn (128 operations), so
// each call releases a batch and succeeds, and the boot id is recorded once none is left.
// Another host's leases (their netns mean nothing here) stay.
TEST_F(IpamEtcd, AfterARebootTheSweepGoesOnInBatchesEtcdTakes) {
  constexpr int kOld = 100;
  for (int i = 0; i < kOld; ++i) {
    auto r = ipam("ADD", "old" + std::to_string(i), 0);  // /var/run/netns/old<i>: none
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ipam("ADD", "other" + std::to_string(i), 1).exit_code, 0);
  const std::string boot_key = prefix_ + "/meta/host-0/boot_id";
  std::string boot = read_file("/proc/sys/kernel/random/boot_id");
  boot.erase(boot.find_last_not_of('\n') + 1);
  ASSERT_EQ(etcd_->etcdctl({"get", boot_key, "--print-value-only"}), boot + "\n");
  etcd_->etcdctl({"put", boot_key, "an-earlier-boot"});

  // New containers, in a netns that exists.
  int calls = 0;
  while (etcd_->etcdctl({"get", boot_key, "--print-value-only"}) != boot + "\n" && calls < 10) {
    auto env = cni_env("ADD", "/proc/1/ns/net", "new" + std::to_string(calls));
    auto r = run_plugin("weir-ipam", env, config(0));
    ASSERT_EQ(r.exit_code, 0) << "call " << calls << ": " << r.out << r.err;
    ++calls;
  }
  EXPECT_GT(calls, 1) << "swept in one transaction";
  EXPECT_LE(calls, 5);
  std::map<std::string, int> left;
  for (const auto& [address, lease] : leases()) {
    const std::string cid = lease.value("container_id", "");
    ++left[cid.substr(0, cid.find_first_of("0123456789"))];
  }
  EXPECT_EQ(left, (std::map<std::string, int>{{"new", calls}, {"other", 4}}));

  // Another reboot, and the first call after it fails (its address is taken): its batch went
  // with it, so the sweep is finished on its own before the error is reported.
  for (int i = 0; i < 40; ++i) ASSERT_EQ(ipam("ADD", "gone" + std::to_string(i), 0).exit_code, 0);
  etcd_->etcdctl({"put", boot_key, "another-earlier-boot"});
  const std::string taken = leases().begin()->first;  // someone's
  auto env = cni_env("ADD", "/proc/1/ns/net", "late");
  env["CNI_ARGS"] = "IP=" + taken;
  auto refused = run_plugin("weir-ipam", env, config(0));
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_EQ(etcd_->etcdctl({"get", boot_key, "--print-value-only"}), boot + "\n");
  for (const auto& [address, lease] : leases()) {
    EXPECT_FALSE(lease.value("container_id", "").starts_with("gone")) << address;
  }
}

// What production etcd looks like: three members, TLS with client certificates. The calls go
// through the agent (and the process path) and keep being served with the member they talked
// to killed; a CA that did not sign the members' certificates is a clear error (code 11 naming
// the endpoints), with nothing left behind.
TEST_F(IpamEtcd, ATlsClusterOfThreeKeepsServingWithAMemberKilled) {
  EtcdCluster cluster({.members = 3, .tls = true});
  const auto& files = cluster.tls();
  json st = {
      {"type", "etcd"},    {"endpoints", cluster.endpoints()},
      {"prefix", prefix_}, {"host", "host-0"},
      {"timeoutMs", 5000}, {"tls", {{"ca", files.ca}, {"cert", files.cert}, {"key", files.key}}}};
  const std::string conf = config(0, st);
  std::set<std::string> got;
  auto add = [&](const std::string& plugin, const std::string& cid) {
    auto r = run_plugin(plugin, cni_env("ADD", "/var/run/netns/" + cid, cid), conf);
    EXPECT_EQ(r.exit_code, 0) << cid << ": " << r.out << r.err;
    if (r.exit_code == 0) got.insert(r.json()["ips"][0]["address"].get<std::string>());
  };
  add("weir-ipam", "c1");
  ASSERT_TRUE(agent_of(0)) << agent_log(0);
  add("weir-ipam", "c2");
  cluster.kill(0);  // the first endpoint: the one both paths talked to
  add("weir-ipam", "c3");
  add("weir-ipam-local", "c4");
  add("weir-ipam", "c5");
  EXPECT_EQ(got.size(), 5u);
  const std::string held =
      cluster.etcdctl({"get", prefix_ + "/leases/", "--prefix", "--keys-only"});
  EXPECT_EQ(std::count(held.begin(), held.end(), '\n'), 10) << held;  // a blank line each

  json wrong = st;
  wrong["tls"]["ca"] = files.other_ca;
  auto r = run_plugin("weir-ipam", cni_env("ADD", "/var/run/netns/c6", "c6"), config(0, wrong));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.json()["code"], 11) << r.out;
  EXPECT_NE(r.json().value("msg", "").find(cluster.endpoint(1)), std::string::npos) << r.out;
  for (const char* cid : {"c1", "c2", "c3", "c4", "c5"}) {
    auto del =
        run_plugin("weir-ipam", cni_env("DEL", std::string("/var/run/netns/") + cid, cid), conf);
    EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  }
  EXPECT_EQ(cluster.etcdctl({"get", prefix_ + "/leases/", "--prefix", "--keys-only"}), "");
}

}  // namespace
}  // namespace weir::test
