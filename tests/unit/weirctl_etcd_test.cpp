// weirctl on an etcd store, through the real binaries: the static weirctl (bin/weirctl, a link
// to `weir`) finds the store in its --store file and runs again as weir-cluster, which reads
// etcd. The leases come from real weir-ipam ADDs from two data dirs standing for two hosts
// (host-0, host-1); endpoint records for `dns ls` are written with the etcd store itself, as
// weir-bridge would on host-1. No root: etcd runs on 127.0.0.1 (tests/support/etcd_fixture.hpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "lib/store/etcd_store.hpp"
#include "tests/support/etcd_fixture.hpp"
#include "tests/support/ipam_agent_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class WeirctlEtcd : public ::testing::Test {
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
    if (!etcd_->running(0)) etcd_->start(0);
    prefix_ = "/weirt-ctl-" +
              std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  json store(const std::string& host, int timeout_ms = 15000) const {  // long: the tests' load
    return {{"type", "etcd"},
            {"endpoints", etcd_->endpoints()},
            {"prefix", prefix_},
            {"timeoutMs", timeout_ms},
            {"host", host}};
  }
  // A --store file: {"store": {…}} as a network config holds it.
  std::string store_file(const std::string& host, int timeout_ms = 2000) const {
    const std::string path = tmp_ / ("store-" + host + ".json");
    std::ofstream(path) << json{{"store", store(host, timeout_ms)}}.dump();
    return path;
  }
  std::string config(int host) const {
    return json{{"cniVersion", "1.1.0"},
                {"name", "overlay"},
                {"type", "weir-ipam"},
                {"store", store("host-" + std::to_string(host))},
                {"ipam",
                 {{"type", "weir-ipam"},
                  {"ranges", {{{{"subnet", "10.78.0.0/24"}}}}},
                  {"dataDir", hosts_[host].path()}}}}
        .dump();
  }
  void add(const std::string& cid, int host) {
    auto r = run_plugin("weir-ipam", cni_env("ADD", "/var/run/netns/" + cid, cid), config(host));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  // c0 and c2 from host-0, c1 from host-1.
  void add_three() {
    for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(add("c" + std::to_string(i), i % 2));
  }
  test::Run ctl(std::vector<std::string> args, const std::string& binary = "weirctl") {
    std::filesystem::create_directories(tmp_ / "net.d");  // no network config: the store's names
    return run_cmd(binary, args, {{"NETCONFPATH", tmp_ / "net.d"}});
  }

  static EtcdCluster* etcd_;
  std::string prefix_;
  TempDir tmp_{"weirt-ctl-etcd"};
  TempDir hosts_[2] = {TempDir("weirt-ctl-h0"), TempDir("weirt-ctl-h1")};
  // The first ADD on a host starts its weir-agent (weir-cluster's): gone with the test.
  AgentReaper reapers_[2] = {{hosts_[0].path()}, {hosts_[1].path()}};
};

EtcdCluster* WeirctlEtcd::etcd_ = nullptr;

TEST_F(WeirctlEtcd, IpamLsListsEveryHostsLeasesWithTheirHost) {
  add_three();
  const std::string f = store_file("host-0");
  auto j = ctl({"--store", f, "--json", "ipam", "ls"});
  ASSERT_EQ(j.exit_code, 0) << j.out << j.err;
  const json nets = j.json()["networks"];
  ASSERT_EQ(nets.size(), 1u) << j.out;
  EXPECT_EQ(nets[0]["name"], "overlay");
  EXPECT_EQ(nets[0]["subnets"][0]["range"], "10.78.0.0/24") << j.out;
  EXPECT_EQ(nets[0]["subnets"][0]["leased"], 3);
  std::map<std::string, std::string> host_of;  // container → host
  for (const auto& l : nets[0]["leases"]) host_of[l.value("containerId", "")] = l.value("host", "");
  EXPECT_EQ(host_of, (std::map<std::string, std::string>{
                         {"c0", "host-0"}, {"c1", "host-1"}, {"c2", "host-0"}}));

  // Text, by network, with the option after the command: the host ends each lease's line.
  auto text = ctl({"ipam", "ls", "overlay", "--store", f});
  ASSERT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_THAT(text.out, HasSubstr("network \"overlay\""));
  EXPECT_THAT(text.out, HasSubstr("3 leased, 250 free"));
  EXPECT_TRUE(
      std::regex_search(text.out, std::regex(R"(c1 +eth0 +/var/run/netns/c1  host host-1\n)")))
      << text.out;
  // weirctl made no SQLite store anywhere.
  for (const auto& h : hosts_) EXPECT_FALSE(std::filesystem::exists(h / "weir.db"));
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "weir.db"));

  // A release by hand on the shared store, then ls again from the other host.
  auto rel = ctl({"--store", f, "ipam", "release", "overlay", "--container-id", "c1"});
  ASSERT_EQ(rel.exit_code, 0) << rel.out << rel.err;
  EXPECT_THAT(rel.out, HasSubstr("released 10.78.0.3 (c1, eth0)"));
  auto left = ctl({"--store", store_file("host-1"), "--json", "ipam", "ls", "overlay"});
  ASSERT_EQ(left.exit_code, 0) << left.err;
  EXPECT_EQ(left.json()["networks"][0]["leases"].size(), 2u) << left.out;
}

TEST_F(WeirctlEtcd, StoreStatusShowsTheEndpointCountsHostsAndThisHostsLease) {
  add_three();
  // host-0's presence, as its weir-agent keeps it: the hosts key on a 120 s lease.
  const std::string granted = etcd_->etcdctl({"lease", "grant", "120"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(granted, m, std::regex("lease ([0-9a-f]+) granted"))) << granted;
  const std::string lease = m[1];
  etcd_->etcdctl({"put", "--lease=" + lease, prefix_ + "/hosts/host-0", R"({"agent":"test"})"});

  auto j = ctl({"--store", store_file("host-0"), "--json", "store", "status", "overlay"});
  ASSERT_EQ(j.exit_code, 0) << j.out << j.err;
  const json st = j.json();
  EXPECT_EQ(st["backend"], "etcd");
  EXPECT_EQ(st["prefix"], prefix_);
  ASSERT_EQ(st["endpoints"].size(), 1u);
  const json& ep = st["endpoints"][0];
  EXPECT_EQ(ep["endpoint"], etcd_->endpoint(0));
  EXPECT_EQ(ep["healthy"], true) << ep;
  EXPECT_EQ(ep["isLeader"], true) << ep;  // one member: it leads
  EXPECT_FALSE(ep.value("version", "").empty());
  EXPECT_GT(ep.value("dbSize", 0), 0);
  EXPECT_GE(st.value("revision", 0), ep.value("revision", 0));
  EXPECT_GT(st.value("revision", 0), 0);
  EXPECT_EQ(st["keys"]["networks"], 1) << st;
  EXPECT_EQ(st["keys"]["leases"], 3);
  EXPECT_EQ(st["keys"]["endpoints"], 0);
  EXPECT_EQ(st["keys"]["hosts"], 1);
  EXPECT_EQ(st["layoutVersion"], "1");
  // Every key under the prefix, as etcdctl counts them.
  std::istringstream keys(etcd_->etcdctl({"get", prefix_ + "/", "--prefix", "--keys-only"}));
  int counted = 0;
  for (std::string line; std::getline(keys, line);)
    counted += line.starts_with(prefix_ + "/") ? 1 : 0;
  EXPECT_EQ(st["keys"]["total"], counted);
  EXPECT_EQ(st["network"]["name"], "overlay");
  EXPECT_EQ(st["network"]["record"], true);
  EXPECT_EQ(st["network"]["leases"], 3);
  ASSERT_EQ(st["hosts"].size(), 1u);
  EXPECT_EQ(st["hosts"][0]["name"], "host-0");
  EXPECT_EQ(st["hosts"][0]["details"]["agent"], "test");
  const json& self = st["thisHost"];
  EXPECT_EQ(self["name"], "host-0");
  EXPECT_EQ(self["registered"], true);
  EXPECT_EQ(self["lease"], lease);
  EXPECT_GT(self.value("ttl", 0), 0);
  EXPECT_LE(self.value("ttl", 0), 120);

  // Text, from host-1, which no agent registered.
  auto text = ctl({"--store", store_file("host-1"), "store", "status"});
  ASSERT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_THAT(text.out, HasSubstr("store      etcd, prefix " + prefix_));
  EXPECT_THAT(text.out, HasSubstr("endpoint   " + etcd_->endpoint(0) + "  healthy: etcd "));
  EXPECT_THAT(text.out, HasSubstr(" 1 networks, 3 leases, 0 endpoints, 1 hosts (layout 1)"));
  EXPECT_THAT(text.out, HasSubstr("hosts      host-0 (TTL "));
  EXPECT_THAT(text.out, HasSubstr("this host  host-1: not registered"));
}

// etcd stopped: status still shows the store and names the endpoint unreachable, exits 1 with
// code 11 (try again later: the calls on its networks fail so meanwhile). ipam ls fails with 11.
TEST_F(WeirctlEtcd, StoreStatusWithEtcdDownNamesTheEndpointAndFails) {
  const std::string f = store_file("host-0", 300);
  etcd_->stop(0);
  auto text = ctl({"--store", f, "store", "status"});
  EXPECT_EQ(text.exit_code, 1) << text.out << text.err;
  EXPECT_THAT(text.out, HasSubstr("endpoint   " + etcd_->endpoint(0) + "  unreachable: "));
  EXPECT_THAT(text.err,
              HasSubstr("no endpoint of the etcd store answers (" + etcd_->endpoint(0) + ")"));
  EXPECT_THAT(text.err, HasSubstr("[CNI error 11]"));

  auto j = ctl({"--store", f, "--json", "store", "status"});
  EXPECT_EQ(j.exit_code, 1);
  EXPECT_EQ(j.json()["ok"], false) << j.out;
  EXPECT_EQ(j.json()["error"]["code"], 11) << j.out;
  EXPECT_EQ(j.json()["endpoints"][0]["healthy"], false) << j.out;
  EXPECT_FALSE(j.json().contains("keys")) << j.out;

  auto ls = ctl({"--store", f, "--json", "ipam", "ls"});
  EXPECT_EQ(ls.exit_code, 1);
  EXPECT_EQ(ls.json()["code"], 11) << ls.out << ls.err;
}

TEST_F(WeirctlEtcd, ABadStoreFileIsInvalidConfigNamingTheFileAndField) {
  const std::string missing = tmp_ / "nothing.json";
  const std::string garbage = tmp_ / "garbage.json";
  std::ofstream(garbage) << "{\"store\": ";
  struct Case {
    json contents;  // null: the file as it is
    std::string path;
    std::string says;
  };
  const Case cases[] = {
      {nullptr, missing, missing + "\": No such file or directory"},
      {nullptr, garbage, garbage + "\" is not JSON"},
      {json{{"store", {{"type", "etcd"}, {"endpoints", {"127.0.0.1:2379"}}}}}, tmp_ / "a.json",
       tmp_ / "a.json: store.endpoints[0] must be an http:// or https:// URL"},
      {json{{"store", {{"type", "consul"}}}}, tmp_ / "b.json", tmp_ / "b.json: store.type"},
      // The host-wide file's shape: the store object itself.
      {json{{"type", "etcd"}, {"endpoints", {"http://127.0.0.1:1"}}, {"prefix", "weir"}},
       tmp_ / "c.json", tmp_ / "c.json.prefix must be an absolute key path"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    if (!c.contents.is_null()) std::ofstream(c.path) << c.contents.dump();
    for (const auto& cmd : std::vector<std::vector<std::string>>{{"ipam", "ls"},
                                                                 {"dns", "ls"},
                                                                 {"store", "status"},
                                                                 {"store", "check"},
                                                                 {"inspect", "overlay"}}) {
      std::vector<std::string> args = {"--json", "--store", c.path};
      args.insert(args.end(), cmd.begin(), cmd.end());
      auto r = ctl(args);
      EXPECT_EQ(r.exit_code, 1) << cmd[0] << " " << r.out << r.err;
      EXPECT_EQ(r.json()["code"], 7) << cmd[0] << " " << r.out;
      EXPECT_THAT(r.json().value("msg", ""), HasSubstr(c.says)) << cmd[0];
    }
  }
}

// store check / rebuild and forget work on a data dir's SQLite file: on an etcd store they
// refuse (code 2) and touch nothing; a --store file that says sqlite makes them work again.
TEST_F(WeirctlEtcd, SqliteFileCommandsRefuseAnEtcdStore) {
  add_three();
  const std::string f = store_file("host-0");
  for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"store", "check"}, {"store", "rebuild"}, {"forget", "overlay", "--force"}}) {
    std::vector<std::string> args = {"--json", "--store", f};
    args.insert(args.end(), cmd.begin(), cmd.end());
    args.insert(args.end(), {"--data-dir", hosts_[0].path()});
    auto r = ctl(args);
    EXPECT_EQ(r.exit_code, 1) << cmd[0] << " " << r.out << r.err;
    EXPECT_EQ(r.json()["code"], 2) << r.out;
    EXPECT_THAT(r.json().value("msg", ""),
                HasSubstr("works on the SQLite file of a data dir, and the store is etcd"));
    // The data dir holds only the agent's files: no SQLite store was made.
    EXPECT_FALSE(std::filesystem::exists(hosts_[0] / "weir.db")) << cmd[0];
  }
  auto ls = ctl({"--store", f, "--json", "ipam", "ls"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.json()["networks"][0]["leases"].size(), 3u) << "a refused command changed the store";

  // {"store": {"type": "sqlite"}}: status of a data dir's SQLite file (one lease made there).
  const std::string sqlite = tmp_ / "sqlite.json";
  std::ofstream(sqlite) << R"({"store": {"type": "sqlite"}})";
  json conf = json::parse(config(1));
  conf.erase("store");
  auto r = run_plugin("weir-ipam", cni_env("ADD", "/var/run/netns/s1", "s1"), conf.dump());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto st = ctl({"--store", sqlite, "--json", "store", "status", "--data-dir", hosts_[1].path()});
  ASSERT_EQ(st.exit_code, 0) << st.out << st.err;
  EXPECT_EQ(st.json()["backend"], "sqlite");
  EXPECT_EQ(st.json()["file"], hosts_[1] / "weir.db");
  EXPECT_EQ(st.json()["keys"]["leases"], 1);
  auto chk = ctl({"--store", sqlite, "store", "check", "--data-dir", hosts_[1].path()});
  EXPECT_EQ(chk.exit_code, 0) << chk.out << chk.err;
}

// dns ls on etcd: the records of every host, each with the host its container is on.
TEST_F(WeirctlEtcd, DnsLsShowsEveryHostsNamesWithTheirHost) {
  for (const auto& [host, id, ip, name] :
       {std::tuple{"host-0", "aaaaaaaaaaaa01", "10.78.0.2/24", "web"},
        std::tuple{"host-1", "bbbbbbbbbbbb02", "10.78.0.3/24", "api"}}) {
    auto db = store::EtcdStore::open({.endpoints = etcd_->endpoints()},
                                     {.prefix = prefix_, .host = host});
    ASSERT_TRUE(db) << db.error().msg;
    const store::Endpoint ep{
        .network = "overlay",
        .container_id = id,
        .ifname = "eth0",
        .ips = {*net::Cidr::parse(ip)},
        .names = {name},
        .extra = json{{"embeddedDNS", true}, {"dnsListen", {"10.78.0.1"}}}.dump()};
    ASSERT_TRUE((*db)->transact([&](store::Txn& t) { return t.put_endpoint(ep); }));
  }
  std::ofstream(tmp_ / "resolv.conf") << "nameserver 192.0.2.1\n";
  const std::string f = store_file("host-0");
  auto j = ctl({"--store", f, "--json", "dns", "ls", "--resolv-conf", tmp_ / "resolv.conf"});
  ASSERT_EQ(j.exit_code, 0) << j.out << j.err;
  const json nets = j.json()["networks"];
  ASSERT_EQ(nets.size(), 1u) << j.out;
  std::map<std::string, json> records;
  for (const auto& r : nets[0]["records"]) records[r["name"]] = r;
  ASSERT_TRUE(records.contains("api")) << j.out;
  EXPECT_EQ(records["api"]["addresses"], json::array({"10.78.0.3"}));
  EXPECT_EQ(records["api"]["hosts"], json::array({"host-1"}));
  EXPECT_EQ(records["web"]["hosts"], json::array({"host-0"}));

  auto text = ctl({"--store", f, "dns", "ls", "overlay", "--resolv-conf", tmp_ / "resolv.conf"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(std::regex_search(text.out, std::regex(R"(\n  api +10\.78\.0\.3  on host-1\n)")))
      << text.out;

  auto store_status = ctl({"--store", f, "--json", "store", "status", "overlay"});
  ASSERT_EQ(store_status.exit_code, 0) << store_status.err;
  EXPECT_EQ(store_status.json()["network"]["endpoints"], 2) << store_status.out;
}

// The static weirctl with no weir-cluster next to it: code 102 naming the missing file.
TEST_F(WeirctlEtcd, WithoutWeirClusterTheStaticWeirctlSaysWhatItNeeds) {
  const std::filesystem::path alone = tmp_ / "bin";
  std::filesystem::create_directory(alone);
  std::filesystem::copy_file(bin("weirctl"), alone / "weirctl");
  auto r = ctl({"--store", store_file("host-0"), "--json", "ipam", "ls"}, alone / "weirctl");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.json()["code"], 102) << r.out;
  EXPECT_THAT(r.json().value("msg", ""), HasSubstr((alone / "weir-cluster").string()));
}

}  // namespace
}  // namespace weir::test
