// Mutated network configs through the real plugins (issue 13: "the fuzzing of configs becomes
// part of the repository"). Each case takes a config of conf/ or one written here, mutates it
// (type confusion, huge numbers, deep nesting, bytes that are not UTF-8, truncation, fields
// deleted, added or duplicated, bytes flipped, a bad CNI_IFNAME now and then), and runs ADD,
// then CHECK and DEL, with weir-bridge, weir-ipam, weir-macvlan or weir-host in a private host
// netns, with /var/lib and /run of its own (tmpfs). Every call must exit 0 or 1 (no signal,
// within a generous timeout); a failure prints the spec's error JSON with a code the spec or
// weir defines, never 999; a DEL after a successful ADD succeeds; and after each case nothing
// is left: no link, lease, endpoint record or nftables table.
//
// Deterministic: case N of seed S is the same on every machine. The normal suite runs 200 cases;
// a longer run, or one case again:
//   WEIR_FUZZ_CASES=5000 WEIR_FUZZ_SEED=7 ctest --test-dir build -R ConfigFuzz --output-on-failure
//   WEIR_FUZZ_SEED=7 WEIR_FUZZ_FIRST=1234 WEIR_FUZZ_CASES=1 build/tests/privileged/config_fuzz_test
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/client/control.hpp"
#include "lib/cni/exec.hpp"
#include "lib/store/sqlite.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"

namespace weir::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string> kPlugins = {"weir-bridge", "weir-ipam", "weir-macvlan", "weir-host"};
// Every data dir a mutation can name (all under the private /var/lib), checked for leftovers.
const std::vector<std::string> kDataDirs = {"/var/lib/weir", "/var/lib/weir-alt"};
// The codes a plugin may answer with (README "Errors"); 999 never.
const std::set<int> kAllowedCodes = {1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 100, 101, 102, 103, 104};

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---- The configs to start from

std::vector<json> seed_configs() {
  std::vector<json> out;
  // Every plugin of every conflist in conf/, as the single config a runtime sends.
  for (const auto& entry : fs::directory_iterator(fs::path(WEIR_SOURCE_DIR) / "conf")) {
    if (entry.path().extension() != ".conflist") continue;
    json list = json::parse(read_text(entry.path()));
    for (json p : list["plugins"]) {
      p["cniVersion"] = list["cniVersion"];
      p["name"] = list["name"];
      out.push_back(std::move(p));
    }
  }
  const json ranges = {{{{"subnet", "10.70.0.0/24"}}}, {{{"subnet", "fd70::/64"}}}};
  out.push_back({{"cniVersion", "1.1.0"}, {"name", "fz"}, {"type", "weir-bridge"}, {"bridge", "fzbr0"},
                 {"isGateway", true}, {"ipMasq", true}, {"mtu", 1400}, {"macspoofchk", true},
                 {"ipam", {{"type", "weir-ipam"}, {"ranges", ranges}, {"routes", {{{"dst", "0.0.0.0/0"}}}}}},
                 {"runtimeConfig", {{"portMappings", {{{"hostPort", 8080}, {"containerPort", 80}, {"protocol", "tcp"}}}},
                                    {"aliases", {"web"}}, {"mac", "02:42:ac:11:00:99"}}}});
  out.push_back({{"cniVersion", "0.4.0"}, {"name", "fzl"}, {"type", "weir-bridge"}, {"bridge", "fzbr1"},
                 {"ipam", {{"type", "weir-ipam"}, {"subnet", "10.71.0.0/24"}, {"rangeStart", "10.71.0.10"},
                           {"rangeEnd", "10.71.0.20"}, {"gateway", "10.71.0.1"}, {"dataDir", "/var/lib/weir-alt"}}}});
  out.push_back({{"cniVersion", "1.0.0"}, {"name", "fzi"}, {"type", "weir-ipam"},
                 {"ipam", {{"type", "weir-ipam"}, {"ranges", ranges}, {"allocation", "lowest"}}},
                 {"args", {{"cni", {{"ips", {"10.70.0.9"}}}}}}});
  out.push_back({{"cniVersion", "1.1.0"}, {"name", "fzm"}, {"type", "weir-macvlan"}, {"master", "fzm0"},
                 {"mode", "bridge"}, {"ipam", {{"type", "weir-ipam"}, {"ranges", ranges}}}});
  out.push_back({{"cniVersion", "1.1.0"}, {"name", "fzh"}, {"type", "weir-host"},
                 {"runtimeConfig", {{"aliases", {"h1"}}}}});
  out.push_back({{"cniVersion", "1.1.0"}, {"name", "fzd"}, {"type", "weir-host"}, {"device", "fzd0"},
                 {"ipam", {{"type", "weir-ipam"}, {"ranges", {{{{"subnet", "10.72.0.0/24"}}}}}}}});
  // Links of the test's host netns in place of the host's own.
  for (auto& c : out) {
    if (c.contains("master")) c["master"] = "fzm0";
    if (c.contains("device")) c["device"] = "fzd0";
  }
  return out;
}

// ---- Mutations

json pool_value(std::mt19937_64& rng) {
  static const std::vector<json> kPool = {
      "", "x", 0, -1, 1, 65536, 4294967296LL, 18446744073709551615ULL, INT64_MIN, 1.5, -0.0, 1e300,
      true, false, nullptr, json::array(), json::object(), json::array({1, "a", nullptr}),
      json{{"a", 1}}, "0.0.0.0/0", "224.0.0.0/4", "::/0", "ff02::/16", "127.0.0.0/8", "10.0.0.0/33",
      "10.70.0.0/24", "10.70.0.300", "fd70::1", "all", "default", "lo", "eth0", "fzm0", "fzd0",
      "../../etc", "rel/dir", "/var/lib/weir-alt", "weir-bridge", "weir-ipam", "host-local",
      "0.1.0", "0.2.0", "0.3.1", "1.1.0", "9.9.9", "strict", "none", "tcp", "sctp",
      "02:42:ac:11:00:02", "ff:ff:ff:ff:ff:ff", std::string(5000, 'a'), std::string("a\0b", 3),
      "\xc3\xa9t\xc3\xa9", "%s%n", json{{"hostPort", 0}, {"containerPort", 70000}}};
  return kPool[rng() % kPool.size()];
}

const std::vector<std::string> kKeys = {
    "mtu", "bridge", "subnet", "ranges", "dataDir", "ipam", "type", "master", "mode", "device",
    "hwaddr", "isGateway", "isDefaultGateway", "ipMasq", "hairpinMode", "portMappings",
    "runtimeConfig", "capabilities", "cniVersion", "name", "dns", "args", "prevResult", "routes",
    "gateway", "rangeStart", "rangeEnd", "isolation", "internal", "icc", "vethQueues",
    "embeddedDNS", "dnsServers", "aliases", "mac", "ips", "allocation", "resolvConf", "vlan",
    "promiscMode", "macspoofchk", "forceAddress", "cni.dev/valid-attachments"};

void collect(const json& j, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) collect(v, at / k, out);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) collect(j[i], at / i, out);
  }
}

json::json_pointer pick(const json& j, std::mt19937_64& rng, bool containers_only = false) {
  std::vector<json::json_pointer> all;
  collect(j, json::json_pointer(), all);
  if (containers_only) {
    std::erase_if(all, [&](const auto& p) { return !j.at(p).is_structured(); });
  }
  return all[rng() % all.size()];
}

void mutate_tree(json& j, std::mt19937_64& rng) {
  // Mostly values changed, deleted or added; nesting and copies now and then.
  static const int kWeights[] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 4};
  switch (kWeights[rng() % std::size(kWeights)]) {
    case 0: {  // type confusion: any node becomes a value of another kind
      auto p = pick(j, rng);
      if (p.empty()) return;
      j.at(p) = pool_value(rng);
      return;
    }
    case 1: {  // a member or element deleted
      auto p = pick(j, rng);
      if (p.empty()) return;
      json& parent = j.at(p.parent_pointer());
      if (parent.is_object()) {
        parent.erase(p.back());
      } else {
        parent.erase(static_cast<size_t>(std::stoul(p.back())));
      }
      return;
    }
    case 2: {  // a known key with any value, anywhere
      json& obj = j.at(pick(j, rng, true));
      const std::string key = kKeys[rng() % kKeys.size()];
      if (obj.is_object()) {
        obj[key] = pool_value(rng);
      } else {
        obj.push_back(json{{key, pool_value(rng)}});
      }
      return;
    }
    case 3: {  // deep nesting
      static const size_t kDepths[] = {10, 63, 64, 65, 200};  // deeper: as text (mutate_text)
      auto p = pick(j, rng);
      if (p.empty()) return;
      json v = j.at(p);
      const size_t depth = kDepths[rng() % std::size(kDepths)];
      const bool arrays = rng() % 2 == 0;
      for (size_t i = 0; i < depth; ++i) v = arrays ? json::array({std::move(v)}) : json{{"d", std::move(v)}};
      j.at(p) = std::move(v);
      return;
    }
    default: {  // a subtree copied somewhere else
      json v = j.at(pick(j, rng));
      auto p = pick(j, rng);
      if (p.empty()) return;
      j.at(p) = std::move(v);
      return;
    }
  }
}

void mutate_text(std::string& t, std::mt19937_64& rng) {
  if (t.empty()) return;
  switch (rng() % 6) {
    case 5: {  // nesting far deeper than any tree this test could dump: 100000 arrays
      const size_t at = t.find("\":");
      if (at == std::string::npos) return;
      t.insert(at + 2, std::string(100000, '[') + std::string(100000, ']') + ",\"deep\":");
      return;
    }
    case 0:  // truncation
      t.resize(rng() % t.size());
      return;
    case 1: {  // bytes that are not UTF-8, inside a string or not
      static const char* kBad[] = {"\xff", "\xc0\x80", "\xed\xa0\x80", "\xe2\x82", "\xf8\x88\x80\x80\x80", "\x80"};
      t.insert(rng() % t.size(), kBad[rng() % std::size(kBad)]);
      return;
    }
    case 2: {  // a number no double or integer holds in place of one
      static const char* kHuge[] = {"1e400", "-1e400", "1E+999", "123456789012345678901234567890",
                                    "-99999999999999999999", "1e-400", "0.0000000000000000000001"};
      for (size_t from = rng() % t.size(), i = 0; i < t.size(); ++i) {
        const size_t at = (from + i) % t.size();
        if (t[at] == ':' && at + 1 < t.size() && (std::isdigit(static_cast<unsigned char>(t[at + 1])) || t[at + 1] == '-')) {
          size_t end = at + 1;
          while (end < t.size() && std::strchr("-+.eE0123456789", t[end]) != nullptr) ++end;
          t.replace(at + 1, end - at - 1, kHuge[rng() % std::size(kHuge)]);
          return;
        }
      }
      t.insert(t.size() - 1, std::string(",\"mtu\":") + kHuge[rng() % std::size(kHuge)]);
      return;
    }
    case 3: {  // a key given twice: "k":v, in front of "k":…
      for (size_t from = rng() % t.size(), i = 0; i < t.size(); ++i) {
        const size_t at = (from + i) % t.size();
        if (t[at] != '"' || at == 0 || (t[at - 1] != '{' && t[at - 1] != ',')) continue;
        const size_t close = t.find("\":", at + 1);
        if (close == std::string::npos) return;
        t.insert(at, t.substr(at, close + 2 - at) + pool_value(rng).dump() + ",");
        return;
      }
      return;
    }
    default:  // bytes flipped
      for (int n = 1 + static_cast<int>(rng() % 3); n > 0; --n) t[rng() % t.size()] ^= static_cast<char>(1 + rng() % 255);
      return;
  }
}

struct Case {
  std::string plugin;
  std::string conf;
  std::string ifname = "eth0";
};

Case make_case(const std::vector<json>& seeds, uint64_t seed, uint64_t n) {
  std::mt19937_64 rng(seed * 1000003u + n);
  json j = seeds[rng() % seeds.size()];
  // 0 to 3 changes of the tree: unchanged, a seed still runs with a bad CNI_IFNAME or text
  // mutation, and the valid ones reach the kernel and must leave nothing after DEL.
  for (int m = static_cast<int>(rng() % 4); m > 0; --m) mutate_tree(j, rng);
  Case c;
  const std::string type = j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : "";
  c.plugin = std::find(kPlugins.begin(), kPlugins.end(), type) != kPlugins.end() ? type : kPlugins[rng() % kPlugins.size()];
  c.conf = j.dump();
  if (rng() % 3 == 0) mutate_text(c.conf, rng);
  if (rng() % 20 == 0) {
    static const char* kIfnames[] = {"all", "default", "eth%d", "a b", "..", "sixteen-chars-xx", "\xff", "lo", "fzm0"};
    c.ifname = kIfnames[rng() % std::size(kIfnames)];
  }
  return c;
}

// ---- The test

std::string printable_bytes(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out.size() > 2000 ? out.substr(0, 2000) + "…" : out;
}

// The kernel state a case could leave: the names of the links of the host and the container
// netns, and the host's nftables rule set.
std::string kernel_state(const TestNetns& host, const TestNetns& ctr) {
  const std::string out = sh("ip -n " + host.name() + " -o link show; echo ---; ip -n " + ctr.name() +
                             " -o link show; echo ---; nsenter --net=" + host.path() + " nft list ruleset 2>&1");
  std::string state;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    // "7: fzm0@fzm1: <BROADCAST,…" → "fzm0"
    const size_t from = line.find(": ");
    if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0])) || from == std::string::npos) {
      state += line + "\n";
      continue;
    }
    const size_t to = line.find_first_of(":@", from + 2);
    state += line.substr(from + 2, to - from - 2) + "\n";
  }
  return state;
}

class ConfigFuzz : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    // /var/lib and /run of our own: a config that lost its dataDir uses the default folder,
    // and test netns live under the private /run.
    ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << std::strerror(errno);
    ASSERT_EQ(::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
    for (const char* dir : {"/var/lib", "/run"}) {
      ASSERT_EQ(::mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"), 0) << dir << ": " << std::strerror(errno);
    }
    host_.emplace("fzh");
    ctr_.emplace("fzc");
    int rc = -1;
    sh(ip("link set lo up") + " && " + ip("link add fzm0 type veth peer name fzm1") + " && " +
           ip("link set fzm0 up") + " && " + ip("link set fzm1 up") + " && " +
           ip("link add fzd0 type veth peer name fzd1") + " && " + ip("link set fzd1 up"),
       &rc);
    ASSERT_EQ(rc, 0) << "cannot make the host's links";
    kernel_ = kernel_state(*host_, *ctr_);
    ASSERT_EQ(kernel_.find("weir"), std::string::npos) << kernel_;
  }
  void TearDown() override {
    for (const auto& dir : kDataDirs) {
      if (auto pid = agent::running_agent(dir)) ::kill(*pid, SIGKILL);
    }
    ctr_.reset();
    host_.reset();
  }

  std::string ip(const std::string& args) const { return "ip -n " + host_->name() + " " + args; }

  // The plugin in the host netns with exactly the CNI_* variables (and PATH), under timeout.
  test::Run call(const Case& c, const std::string& command, const std::string& id) const {
    const std::vector<std::string> argv = {"timeout", "-k", "5", "60", "nsenter", "--net=" + host_->path(), bin(c.plugin)};
    const std::vector<std::string> envp = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND=" + command,
                                           "CNI_CONTAINERID=" + id, "CNI_NETNS=" + ctr_->path(),
                                           "CNI_IFNAME=" + c.ifname, "CNI_PATH=" + std::string(WEIR_BIN_DIR)};
    return test::run_exact("/usr/bin/timeout", argv, envp, c.conf);
  }

  // Empty when the call answered as the spec says; else what is wrong.
  static std::string judge(const test::Run& r, const std::string& verb) {
    if (r.exit_code == 124) return verb + " hung (killed after 60 s)";
    if (r.exit_code == 0) {
      if (verb == "ADD" && !r.json().is_object()) return "ADD succeeded without a result JSON: " + r.out;
      return "";
    }
    if (r.exit_code != 1) return verb + " exited " + std::to_string(r.exit_code) + " (a signal?)";
    const json j = r.json();
    if (!j.is_object() || !j.contains("code") || !j["code"].is_number_integer() || !j.contains("msg") ||
        !j["msg"].is_string()) {
      return verb + " failed without the error JSON: " + r.out;
    }
    if (!kAllowedCodes.contains(j["code"].get<int>())) return verb + " failed with code " + j["code"].dump() + ": " + r.out;
    return "";
  }

  // Empty when nothing of the case is left; else what is.
  std::string leftovers() const {
    std::string out;
    for (const auto& dir : kDataDirs) {
      // DEL leaves the kernel's part of deleting a veth to a child holding reaper.lock.
      const int fd = ::open((dir + "/reaper.lock").c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
        }
        ::close(fd);
      }
    }
    if (auto now = kernel_state(*host_, *ctr_); now != kernel_) {
      out += "kernel state before:\n" + kernel_ + "after:\n" + now;
    }
    for (const auto& dir : kDataDirs) {
      if (!fs::exists(store::database_path(dir))) continue;
      auto db = store::SqliteStore::open(store::database_path(dir));
      if (!db) {
        out += "store " + dir + ": " + db.error().msg + "; ";
        continue;
      }
      (void)db->view([&](store::Txn& t) -> Expected<void> {
        if (auto l = t.list_leases(""); l && !l->empty()) out += std::to_string(l->size()) + " leases in " + dir + "; ";
        if (auto e = t.list_endpoints(""); e && !e->empty()) out += std::to_string(e->size()) + " endpoints in " + dir + "; ";
        return {};
      });
    }
    return out;
  }

  std::optional<TestNetns> host_;
  std::optional<TestNetns> ctr_;
  std::string kernel_;  // as the case found it
};

TEST_F(ConfigFuzz, MutatedConfigsNeverCrashHangAnswer999OrLeaveAnythingBehind) {
  const uint64_t seed = env_number("WEIR_FUZZ_SEED", 13);
  const uint64_t first = env_number("WEIR_FUZZ_FIRST", 0);
  const uint64_t cases = env_number("WEIR_FUZZ_CASES", 200);
  const auto seeds = seed_configs();
  ASSERT_GE(seeds.size(), 10u);
  int added = 0;
  for (uint64_t n = first; n < first + cases; ++n) {
    const Case c = make_case(seeds, seed, n);
    const std::string id = "fz" + std::to_string(n);
    const std::string repro = "case " + std::to_string(n) + " of WEIR_FUZZ_SEED=" + std::to_string(seed) + ": " +
                              c.plugin + " CNI_IFNAME=" + printable_bytes(c.ifname) + " config " + printable_bytes(c.conf);
    auto add = call(c, "ADD", id);
    std::string wrong = judge(add, "ADD");
    if (wrong.empty() && add.exit_code == 0) {
      ++added;
      wrong = judge(call(c, "CHECK", id), "CHECK");
      auto del = call(c, "DEL", id);
      if (wrong.empty()) wrong = judge(del, "DEL");
      if (wrong.empty() && del.exit_code != 0) wrong = "DEL after a successful ADD failed: " + del.out;
    } else if (wrong.empty()) {
      wrong = judge(call(c, "DEL", id), "DEL");
    }
    if (wrong.empty()) wrong = leftovers();
    // One failure is enough: what it left would be blamed on every later case.
    ASSERT_EQ(wrong, "") << repro << "\nADD stdout: " << add.out << "\nADD stderr: " << add.err;
  }
  // The mutations must not make every config invalid: some ADDs get through to the kernel.
  EXPECT_GT(added, 0);
  std::cout << "[ fuzz ] " << cases << " cases from seed " << seed << ", " << added << " ADDs succeeded\n";
}

}  // namespace
}  // namespace weir::test
