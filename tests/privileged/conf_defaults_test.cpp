// Every file in conf/ as a new user meets it: the shipped file unchanged, found by name through
// NETCONFPATH, ADDed, resolved (where it has DNS) and DELed by weirctl and the real plugins —
// with the default data dir (/var/lib/weir) and no weir-agent running beforehand. The test
// process first enters a private mount namespace with fresh tmpfs over /var/lib and /run, so the
// defaults are the defaults and the machine's own folders are never touched; everything else
// happens in a private "host" netns, as in the other privileged tests.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <list>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "agent/client/control.hpp"
#include "lib/store/sqlite.hpp"
#include "tests/support/etcd_fixture.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kDefaultDir = "/var/lib/weir";

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Fresh, empty /var/lib and /run visible to this process and its children only.
::testing::AssertionResult enter_private_mounts() {
  if (::unshare(CLONE_NEWNS) != 0) return ::testing::AssertionFailure() << "unshare: " << std::strerror(errno);
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return ::testing::AssertionFailure() << "make / private: " << std::strerror(errno);
  }
  for (const char* dir : {"/var/lib", "/run"}) {
    if (::mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
      return ::testing::AssertionFailure() << "tmpfs over " << dir << ": " << std::strerror(errno);
    }
  }
  return ::testing::AssertionSuccess();
}

// An etcd on the default client URL, http://127.0.0.1:2379, inside a test's "host" netns (so
// never the machine's own): what a shipped config that names the default endpoint finds there.
class NetnsEtcd {
 public:
  explicit NetnsEtcd(const std::string& netns_path) : netns_(netns_path) {
    const std::string data = dir_.path() + "/data";
    std::vector<std::string> args = {"/usr/bin/nsenter",
                                     "--net=" + netns_,
                                     "/usr/bin/etcd",
                                     "--name=default",
                                     "--data-dir=" + data,
                                     "--listen-client-urls=http://127.0.0.1:2379",
                                     "--advertise-client-urls=http://127.0.0.1:2379",
                                     "--listen-peer-urls=http://127.0.0.1:2380",
                                     "--election-timeout=100",
                                     "--heartbeat-interval=20",
                                     "--logger=zap",
                                     "--log-outputs=" + dir_.path() + "/etcd.log"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 100 && running() && !healthy(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~NetnsEtcd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool running() {
    if (pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
    return pid_ > 0;
  }
  bool healthy() const {
    int st = -1;
    sh("nsenter --net=" + netns_ +
           " etcdctl --endpoints=http://127.0.0.1:2379 endpoint health >/dev/null 2>&1",
       &st);
    return st == 0;
  }
  // The keys under prefix, one per line.
  std::string keys(const std::string& prefix) const {
    return sh("nsenter --net=" + netns_ + " etcdctl --endpoints=http://127.0.0.1:2379 get " +
              prefix + " --prefix --keys-only 2>&1");
  }
  void del(const std::string& prefix) const {
    sh("nsenter --net=" + netns_ + " etcdctl --endpoints=http://127.0.0.1:2379 del " + prefix +
       " --prefix >/dev/null 2>&1");
  }

 private:
  std::string netns_;
  TempDir dir_{"weirt-netns-etcd"};
  pid_t pid_ = -1;
};

// Polls until `done` holds (10 s at most); returns its last answer.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

size_t lines_with(const std::string& text, const std::string& needle) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += has(line, needle) ? 1 : 0;
  return n;
}

class ConfDefaults : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    ASSERT_TRUE(enter_private_mounts());
    ASSERT_FALSE(fs::exists(kDefaultDir));
    host_.emplace("cfh");
    sh("ip -n " + host_->name() + " link set lo up");
  }
  void TearDown() override {
    // The agent a plugin started lives in this mount namespace; nothing else would stop it
    // before its idle timer.
    if (auto pid = agent::running_agent(kDefaultDir)) ::kill(*pid, SIGKILL);
    containers_.clear();
    host_.reset();
  }

  const TestNetns& container(const std::string& tag) { return containers_.emplace_back(tag); }

  // weirctl in the host netns, with the shipped conf/ as the only config folder and nothing but
  // its defaults otherwise (no --cache-dir, no dataDir).
  test::Run ctl(std::vector<std::string> args) {
    std::vector<std::string> all = {"--net=" + host_->path(), "/usr/bin/env",
                                    "NETCONFPATH=" + std::string(WEIR_SOURCE_DIR) + "/conf",
                                    "CNI_PATH=" + std::string(WEIR_BIN_DIR) + ":/usr/lib/cni",
                                    bin("weirctl"), "--json"};
    all.insert(all.end(), args.begin(), args.end());
    return run_cmd("/usr/bin/nsenter", all);
  }
  std::string in_host(const std::string& cmd) {
    return sh("ip netns exec " + host_->name() + " " + cmd + " 2>&1");
  }
  std::string addr_of(const TestNetns& c, const std::string& dev = "eth0", int family = 4) {
    return trim(sh("ip -n " + c.name() + " -" + std::to_string(family) + " -o addr show dev " + dev +
                   " scope global | awk '{print $4}' | head -n1 | cut -d/ -f1"));
  }
  bool ping(const TestNetns& from, const std::string& to) {
    int st = -1;
    sh("ip netns exec " + from.name() + " ping -c1 -W1 " + to + " >/dev/null 2>&1", &st);
    return st == 0;
  }
  size_t records(const std::string& what, const std::string& network) {
    auto db = store::SqliteStore::open(store::database_path(kDefaultDir));
    if (!db) return 0;
    size_t n = 0;
    (void)db->view([&](store::Txn& t) -> Expected<void> {
      if (what == "leases") {
        if (auto l = t.list_leases(network)) n = l->size();
      } else if (auto e = t.list_endpoints(network)) {
        n = e->size();
      }
      return {};
    });
    return n;
  }
  // A host link by that name (a veth end stands in for a NIC: this kernel has no dummy links).
  void host_nic(const std::string& name, const std::string& cidr = "") {
    sh("ip -n " + host_->name() + " link add " + name + " type veth peer name " + name + "p");
    if (!cidr.empty()) sh("ip -n " + host_->name() + " addr add " + cidr + " dev " + name);
    sh("ip -n " + host_->name() + " link set " + name + " up");
    sh("ip -n " + host_->name() + " link set " + name + "p up");
  }

  std::optional<TestNetns> host_;
  std::list<TestNetns> containers_;
};

TEST_F(ConfDefaults, None) {
  const auto& c = container("cfn");
  auto add = ctl({"add", "loopback-only", c.name()});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(add.json()["ips"][0]["address"], "127.0.0.1/8");
  EXPECT_TRUE(ping(c, "127.0.0.1"));
  auto del = ctl({"del", "loopback-only", c.name()});
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
}

// Docker's default bridge: 172.17.0.0/16 on weir0, NAT, no DNS.
TEST_F(ConfDefaults, Bridge) {
  const auto& a = container("cfba");
  const auto& b = container("cfbb");
  auto add = ctl({"add", "weir", a.name(), "--container-id", "a"});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  ASSERT_EQ(ctl({"add", "weir", b.name(), "--container-id", "b"}).exit_code, 0);
  EXPECT_TRUE(addr_of(a).starts_with("172.17.0.")) << add.out;
  EXPECT_TRUE(ping(b, addr_of(a)));
  EXPECT_TRUE(fs::exists(std::string(kDefaultDir) + "/weir.db"));
  EXPECT_EQ(records("leases", "weir"), 2u);
  EXPECT_EQ(ctl({"del", "weir", a.name(), "--container-id", "a"}).exit_code, 0);
  EXPECT_EQ(ctl({"del", "weir", b.name(), "--container-id", "b"}).exit_code, 0);
  EXPECT_EQ(records("leases", "weir"), 0u);
  EXPECT_EQ(records("endpoints", "weir"), 0u);
  EXPECT_EQ(trim(in_host("nft list ruleset")), "");
}

// The README's user network with embedded DNS: the first ADD on a fresh machine starts the
// agent for /var/lib/weir, and names resolve at once.
TEST_F(ConfDefaults, BridgeUserResolvesNames) {
  const auto& web = container("cfuw");
  const auto& client = container("cfuc");
  auto add = ctl({"add", "appnet", web.name(), "--container-id", "web", "--args", "K8S_POD_NAME=web"});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  auto add2 = ctl({"add", "appnet", client.name(), "--container-id", "client"});
  ASSERT_EQ(add2.exit_code, 0) << add2.out << add2.err;
  ASSERT_TRUE(agent::running_agent(kDefaultDir)) << "no weir-agent serves " << kDefaultDir;
  const std::string gateway = add.json()["ips"][0]["gateway"];
  const std::string ip = addr_of(web);
  ASSERT_FALSE(ip.empty());
  EXPECT_EQ(add.json()["dns"]["nameservers"][0], gateway) << add.out;
  std::string answer;
  for (int i = 0; i < 20 && answer != ip; ++i) {
    answer = trim(sh("ip netns exec " + client.name() + " dig +short +time=1 +tries=1 @" + gateway +
                     " web.appnet A 2>&1"));
  }
  EXPECT_EQ(answer, ip);
  EXPECT_TRUE(ping(client, ip));
  EXPECT_EQ(ctl({"del", "appnet", web.name(), "--container-id", "web"}).exit_code, 0);
  EXPECT_EQ(ctl({"del", "appnet", client.name(), "--container-id", "client"}).exit_code, 0);
  EXPECT_EQ(records("leases", "appnet"), 0u);
  EXPECT_EQ(records("endpoints", "appnet"), 0u);
}

// A macvlan child of the host's eth0 (here a veth end), from 192.168.1.200-249.
TEST_F(ConfDefaults, Macvlan) {
  host_nic("eth0");
  const auto& c = container("cfm");
  auto add = ctl({"add", "lan", c.name()});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(addr_of(c), "192.168.1.200");
  EXPECT_TRUE(has(sh("ip -n " + c.name() + " -d link show eth0"), "macvlan"));
  EXPECT_EQ(ctl({"del", "lan", c.name()}).exit_code, 0);
  EXPECT_EQ(records("leases", "lan"), 0u);
}

// Docker's --network host: the container runs in the host's own netns.
TEST_F(ConfDefaults, Host) {
  host_nic("uplink", "198.51.100.7/24");
  auto add = ctl({"add", "host", host_->path(), "--container-id", "h1"});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_TRUE(has(add.out, "198.51.100.7")) << add.out;
  EXPECT_EQ(ctl({"del", "host", host_->path(), "--container-id", "h1"}).exit_code, 0);
}

// Host-device mode: the host's eth1 moves into the container and back.
TEST_F(ConfDefaults, HostDevice) {
  host_nic("eth1");
  const auto& c = container("cfhd");
  auto add = ctl({"add", "passthrough-nic", c.name()});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_TRUE(addr_of(c).starts_with("10.20.0.")) << add.out;
  EXPECT_EQ(ctl({"del", "passthrough-nic", c.name()}).exit_code, 0);
  EXPECT_TRUE(has(sh("ip -n " + host_->name() + " link show eth1 2>&1"), "eth1"));
  EXPECT_EQ(records("leases", "passthrough-nic"), 0u);
}

// weir-ipam under the reference bridge plugin: a subnet from Docker's default pools.
TEST_F(ConfDefaults, IpamPool) {
  if (!fs::exists("/usr/lib/cni/bridge")) GTEST_SKIP() << "the reference plugins are not installed";
  const auto& c = container("cfp");
  auto add = ctl({"add", "ipam-pool", c.name()});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  const std::string ip = addr_of(c);
  EXPECT_TRUE(ip.starts_with("172.")) << add.out;
  EXPECT_EQ(records("leases", "ipam-pool"), 1u);
  EXPECT_EQ(ctl({"del", "ipam-pool", c.name()}).exit_code, 0);
  EXPECT_EQ(records("leases", "ipam-pool"), 0u);
}

TEST_F(ConfDefaults, IpamDualStack) {
  if (!fs::exists("/usr/lib/cni/bridge")) GTEST_SKIP() << "the reference plugins are not installed";
  const auto& c = container("cfd");
  auto add = ctl({"add", "ipam-dualstack", c.name()});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_TRUE(addr_of(c).starts_with("10.88.0.")) << add.out;
  EXPECT_TRUE(has(add.out, "fd00:88::")) << add.out;
  EXPECT_EQ(records("leases", "ipam-dualstack"), 2u);
  EXPECT_EQ(ctl({"del", "ipam-dualstack", c.name()}).exit_code, 0);
  EXPECT_EQ(records("leases", "ipam-dualstack"), 0u);
}

// weir-ipam's leases in etcd (the default endpoint, http://127.0.0.1:2379) under the reference
// bridge: every host that ADDs on this network takes its addresses from one cluster-wide range.
TEST_F(ConfDefaults, IpamEtcd) {
  if (!fs::exists("/usr/lib/cni/bridge")) GTEST_SKIP() << "the reference plugins are not installed";
  WEIR_REQUIRE_ETCD();
  NetnsEtcd etcd(host_->path());
  ASSERT_TRUE(etcd.healthy());
  const auto& c = container("cfe");
  auto add = ctl({"add", "ipam-etcd", c.name()});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_TRUE(addr_of(c).starts_with("10.44.0.")) << add.out;
  EXPECT_EQ(lines_with(etcd.keys("/weir/leases/"), "/weir/leases/ipam-etcd/"), 1u)
      << etcd.keys("/weir");
  EXPECT_FALSE(fs::exists(std::string(kDefaultDir) + "/weir.db")) << "a SQLite store was made too";
  // The ADD started weir-cluster's weir-agent for the default folder, which runs the calls
  // after it (the DEL) and from its first one keeps this host present in the cluster.
  EXPECT_TRUE(eventually([] { return agent::running_agent(kDefaultDir).has_value(); }))
      << sh("ls -la " + std::string(kDefaultDir) + "; cat " + kDefaultDir + "/agent.log 2>&1");
  EXPECT_EQ(ctl({"del", "ipam-etcd", c.name()}).exit_code, 0);
  EXPECT_EQ(lines_with(etcd.keys("/weir/hosts/"), "/weir/hosts/"), 1u) << etcd.keys("/weir");
  EXPECT_TRUE(has(sh("cat " + std::string(kDefaultDir) + "/agent.log"), "serving weir-ipam calls"));
  EXPECT_EQ(lines_with(etcd.keys("/weir/"), "/leases/"), 0u) << etcd.keys("/weir");
}

// The host-wide /etc/weir/store.json puts every network without a "store" of its own on etcd:
// the shipped ipam-pool.conflist, unchanged, leases from etcd.
TEST_F(ConfDefaults, HostWideStoreFile) {
  if (!fs::exists("/usr/lib/cni/bridge")) GTEST_SKIP() << "the reference plugins are not installed";
  WEIR_REQUIRE_ETCD();
  // A writable /etc in our mount namespace only: an overlay on a tmpfs of its own.
  TempDir layers("weirt-etc");
  ASSERT_EQ(::mount("tmpfs", layers.path().c_str(), "tmpfs", 0, "mode=0700"), 0)
      << std::strerror(errno);
  struct Unmount {  // before the TempDir goes, so that it can remove its folder
    std::string layers;
    ~Unmount() {
      ::umount2("/etc", MNT_DETACH);
      ::umount2(layers.c_str(), MNT_DETACH);
    }
  } unmount{layers.path()};
  fs::create_directories(layers.path() + "/upper");
  fs::create_directories(layers.path() + "/work");
  const std::string options =
      "lowerdir=/etc,upperdir=" + layers.path() + "/upper,workdir=" + layers.path() + "/work";
  ASSERT_EQ(::mount("overlay", "/etc", "overlay", 0, options.c_str()), 0) << std::strerror(errno);
  fs::create_directories("/etc/weir");
  std::ofstream("/etc/weir/store.json")
      << R"({"type": "etcd", "endpoints": ["http://127.0.0.1:2379"], "prefix": "/site"})";
  NetnsEtcd etcd(host_->path());
  ASSERT_TRUE(etcd.healthy());
  const auto& c = container("cfw");
  auto add = ctl({"add", "ipam-pool", c.name()});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(lines_with(etcd.keys("/site/leases/"), "/site/leases/ipam-pool/"), 1u)
      << etcd.keys("/site");
  EXPECT_FALSE(fs::exists(std::string(kDefaultDir) + "/weir.db"));
  EXPECT_EQ(ctl({"del", "ipam-pool", c.name()}).exit_code, 0);
  EXPECT_EQ(lines_with(etcd.keys("/site/"), "/leases/"), 0u);
  // weir-agent as conf/weir-agent.service runs it on an etcd host (weir-cluster's, --stay): this
  // host is present in the host-wide store from its start, before any call. (The agent the ADD
  // started goes first, with its presence.)
  ASSERT_TRUE(eventually([] { return agent::running_agent(kDefaultDir).has_value(); }));
  ::kill(*agent::running_agent(kDefaultDir), SIGKILL);
  ASSERT_TRUE(eventually([] { return !agent::running_agent(kDefaultDir); }));
  etcd.del("/site/hosts/");
  sh("nsenter --net=" + host_->path() + " " + bin("weir-cluster") +
     " weir-agent --stay >/dev/null 2>&1 &");
  EXPECT_TRUE(eventually([&] {
    return lines_with(etcd.keys("/site/hosts/"), "/site/hosts/") == 1;
  })) << etcd.keys("/site");
  // A file others can write is not obeyed (it would pick every network's store): code 7, named.
  fs::permissions("/etc/weir/store.json", fs::perms::others_write, fs::perm_options::add);
  // (a fresh container each: the reference bridge leaves its veth behind when its IPAM fails)
  auto writable = ctl({"add", "ipam-pool", container("cfw2").name()});
  EXPECT_NE(writable.exit_code, 0);
  EXPECT_TRUE(has(writable.out + writable.err, "/etc/weir/store.json"))
      << writable.out << writable.err;
  EXPECT_TRUE(has(writable.out + writable.err, "only its owner can write")) << writable.out;
  fs::permissions("/etc/weir/store.json", fs::perms::others_write, fs::perm_options::remove);
  // A broken file is the network's config error, naming the file.
  std::ofstream("/etc/weir/store.json") << "{not json";
  auto bad = ctl({"add", "ipam-pool", container("cfw3").name()});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(has(bad.out + bad.err, "/etc/weir/store.json")) << bad.out << bad.err;
}

// Every file in conf/ has a test above (a new one fails this until it gets one).
TEST(ConfFiles, EachHasADefaultsTest) {
  std::set<std::string> covered = {"none.conflist",        "bridge.conflist",
                                   "bridge-user.conflist", "macvlan.conflist",
                                   "host.conflist",        "host-device.conflist",
                                   "ipam-pool.conflist",   "ipam-dualstack.conflist",
                                   "ipam-etcd.conflist",   "weir-agent.service"};
  for (const auto& entry : fs::directory_iterator(fs::path(WEIR_SOURCE_DIR) / "conf")) {
    EXPECT_TRUE(covered.contains(entry.path().filename().string())) << entry.path();
  }
}

}  // namespace
}  // namespace weir::test
