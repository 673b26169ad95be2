// Shared by the weir-bridge tests: a private netns that plays the host (so the bridge, the
// sysctls and table inet weir are the test's own), container netns, a temp store folder, and
// the checks a person would make with ip, nft, ping and nc. A Host made with StoreKind::kEtcd
// runs an etcd of its own inside its netns, and bridge_conf gives its networks that store: the
// store checks below then read etcd (with etcdctl) where they read SQLite otherwise.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lib/store/sqlite.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/netns_etcd.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test::bridge {

using nlohmann::json;

inline constexpr const char* kNsenter = "/usr/bin/nsenter";

inline bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A container: its netns and the id the runtime gives it.
struct Container {
  explicit Container(std::string id_) : ns("brc"), id(std::move(id_)) {}
  TestNetns ns;
  std::string id;
  std::string path() const { return ns.path(); }
  std::string ip(const std::string& args) const { return sh("ip -n " + ns.name() + " " + args + " 2>&1"); }
  // The first address of a family on ifname, without its prefix length ("" if none).
  std::string addr(int family = 4, const std::string& ifname = "eth0") const {
    std::string out = sh("ip -n " + ns.name() + " -" + std::to_string(family) + " -o addr show dev " +
                         ifname + " scope global | awk '{print $4}' | head -n1 | cut -d/ -f1");
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }
  bool ping(const std::string& to) const {
    int st = -1;
    sh("ip netns exec " + ns.name() + " ping -c1 -W1 " + to + " >/dev/null 2>&1", &st);
    return st == 0;
  }
};

// The host: a private netns that weir-bridge runs in, and a store folder.
class Host {
 public:
  explicit Host(StoreKind kind = StoreKind::kSqlite) : ns_("brh") {
    if (kind == StoreKind::kEtcd) etcd_.emplace(ns_.name(), ns_.path());
  }
  // The etcd of this host's networks; nullptr on SQLite.
  const NetnsEtcd* etcd() const { return etcd_ ? &*etcd_ : nullptr; }
  // The "store" object a network config needs to be on this host's store (null on SQLite).
  json store_object() const { return etcd_ ? etcd_->store_object() : json(); }
  const std::string& name() const { return ns_.name(); }
  std::string path() const { return ns_.path(); }
  const std::string& data_dir() const { return dir_.path(); }
  // Where weir's store is: the data dir, or /var/lib/weir as the plugins see it.
  std::string store_dir() const { return var_lib_.empty() ? dir_.path() : var_lib_ + "/weir"; }

  // Runs a plugin (weir-bridge unless told) in the host netns for a container.
  Run plugin(const std::string& command, const std::string& netns, const std::string& id,
             const json& conf, std::map<std::string, std::string> extra_env = {},
             const std::string& ifname = "eth0", const std::string& binary = "weir-bridge") const {
    return plugin_text(command, netns, id, conf.dump(), ifname, binary, std::move(extra_env));
  }
  // The same with the config as text: what no JSON library writes (1e400, bytes not UTF-8).
  Run plugin_text(const std::string& command, const std::string& netns, const std::string& id,
                  const std::string& conf, const std::string& ifname = "eth0",
                  const std::string& binary = "weir-bridge",
                  std::map<std::string, std::string> extra_env = {}) const {
    auto env = cni_env(command, netns, id, ifname);
    env["CNI_PATH"] = std::string(WEIR_BIN_DIR) + ":/usr/lib/cni";
    for (auto& [k, v] : extra_env) {
      if (v.empty()) {
        env.erase(k);
      } else {
        env[k] = v;
      }
    }
    // Only the CNI_* variables of this call: none of the test's own environment leaks in.
    std::vector<std::string> args = {"--net=" + path(), "/usr/bin/env", "-i",
                                     "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    for (const auto& [k, v] : env) args.push_back(k + "=" + v);
    args.push_back(binary.find('/') == std::string::npos ? bin(binary) : binary);
    if (var_lib_.empty()) return run_cmd(kNsenter, args, {}, conf);
    // A private mount namespace with the test's folder over /var/lib: plugins that keep state
    // in their default folders (/var/lib/cni, /var/lib/weir) run unchanged and hermetic.
    std::vector<std::string> wrapped = {"--mount", "--propagation", "private", "/bin/sh", "-c",
                                        "mount --bind \"$0\" /var/lib && exec \"$@\"", var_lib_,
                                        kNsenter};
    wrapped.insert(wrapped.end(), args.begin(), args.end());
    return run_cmd("/usr/bin/unshare", wrapped, {}, conf);
  }
  // From now on plugins see <data_dir>/var-lib as /var/lib.
  std::string private_var_lib() {
    var_lib_ = dir_.path() + "/var-lib";
    std::filesystem::create_directories(var_lib_);
    return var_lib_;
  }
  Run add(const Container& c, const json& conf, std::map<std::string, std::string> env = {}) const {
    return plugin("ADD", c.path(), c.id, conf, std::move(env));
  }
  Run del(const Container& c, const json& conf, std::map<std::string, std::string> env = {}) const {
    return plugin("DEL", c.path(), c.id, conf, std::move(env));
  }
  Run check(const Container& c, const json& conf, std::map<std::string, std::string> env = {}) const {
    return plugin("CHECK", c.path(), c.id, conf, std::move(env));
  }

  std::string ip(const std::string& args) const { return sh("ip -n " + name() + " " + args + " 2>&1"); }
  std::string exec(const std::string& cmd) const {
    return sh("ip netns exec " + name() + " " + cmd + " 2>&1");
  }
  std::string nft() const { return exec("nft list ruleset"); }
  // weir-bridge's DEL leaves the kernel's part of deleting a veth to a child process that holds
  // <store>/reaper.lock while it works (plugins/common/link_reaper.hpp): wait for them all, so
  // what the checks below see is what DEL leaves behind.
  void settle() const {
    const std::string path = store_dir() + "/reaper.lock";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;  // no DEL ever ran
    while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    ::close(fd);
  }
  bool link_exists(const std::string& link) const {
    settle();
    int st = -1;
    sh("ip -n " + name() + " link show dev " + link + " >/dev/null 2>&1", &st);
    return st == 0;
  }
  // Host veths (weir's "veth" + hash names) left in the host.
  int veth_count() const {
    settle();
    return std::stoi(sh("ip -n " + name() + " -o link show type veth | grep -c ' veth' || true"));
  }

  size_t lease_count(const std::string& network) const {
    if (etcd_) return etcd_->keys("/leases/" + network + "/").size();
    auto db = store::SqliteStore::open(store::database_path(store_dir()));
    if (!db) return 0;
    size_t n = 0;
    (void)db->view([&](store::Txn& t) -> Expected<void> {
      auto l = t.list_leases(network);
      if (l) n = l->size();
      return {};
    });
    return n;
  }
  std::optional<store::Endpoint> endpoint(const std::string& network, const std::string& id) const {
    if (etcd_) return etcd_->endpoint(network, id);
    auto db = store::SqliteStore::open(store::database_path(store_dir()));
    if (!db) return std::nullopt;
    std::optional<store::Endpoint> out;
    (void)db->view([&](store::Txn& t) -> Expected<void> {
      auto e = t.get_endpoint(network, id, "eth0");
      if (e) out = *e;
      return {};
    });
    return out;
  }
  // Drops an attachment's record and lease behind weir's back, as a crash between the kernel
  // and the store would (or a DEL whose veth the kernel is still deleting): its veth stays,
  // a leftover of the network's bridge.
  void forget(const std::string& network, const std::string& id) const {
    ASSERT_FALSE(etcd_) << "forget() reaches into SQLite only";
    auto db = store::SqliteStore::open(store::database_path(store_dir()));
    ASSERT_TRUE(db) << db.error().msg;
    auto ok = db->transact([&](store::Txn& t) -> Expected<void> {
      if (auto gone = t.del_endpoint(network, id, "eth0"); !gone) return gone;
      auto n = t.release(network, id, "eth0");
      if (!n) return fail(n.error());
      return {};
    });
    ASSERT_TRUE(ok) << ok.error().msg;
  }
  // The lease and endpoint records of every network the store holds (on etcd: their keys, with
  // the indexes that go with them): none once every attachment is deleted.
  size_t records_left() const {
    if (etcd_) return etcd_->attachment_keys().size();
    auto db = store::SqliteStore::open(store::database_path(store_dir()));
    if (!db) return 0;
    size_t n = 0;
    (void)db->view([&](store::Txn& t) -> Expected<void> {
      auto l = t.list_leases("");
      auto e = t.list_endpoints("");
      n = (l ? l->size() : 1) + (e ? e->size() : 1);
      return {};
    });
    return n;
  }
  size_t endpoint_count(const std::string& network) const {
    if (etcd_) return etcd_->keys("/endpoints/" + network + "/").size();
    auto db = store::SqliteStore::open(store::database_path(store_dir()));
    if (!db) return 0;
    size_t n = 0;
    (void)db->view([&](store::Txn& t) -> Expected<void> {
      auto e = t.list_endpoints(network);
      if (e) n = e->size();
      return {};
    });
    return n;
  }

  // An "outside" netns joined to the host by a veth: host 192.0.2.1/24 + 2001:db8:ff::1/64,
  // outside .2 / ::2. It plays a remote client or server; it has no route to any container
  // subnet, so it can only answer what the host masquerades.
  const TestNetns& outside() {
    if (!outside_) {
      outside_.emplace("bro");
      const std::string o = outside_->name();
      sh("ip -n " + name() + " link add wout type veth peer name wout netns " + o);
      sh("ip -n " + name() + " addr add 192.0.2.1/24 dev wout");
      sh("ip -n " + name() + " addr add 2001:db8:ff::1/64 dev wout nodad");
      sh("ip -n " + name() + " link set wout up");
      sh("ip -n " + o + " addr add 192.0.2.2/24 dev wout");
      sh("ip -n " + o + " addr add 2001:db8:ff::2/64 dev wout nodad");
      sh("ip -n " + o + " link set wout up");
      sh("ip -n " + o + " link set lo up");
      sh("ip -n " + name() + " link set lo up");
    }
    return *outside_;
  }

 private:
  TestNetns ns_;
  std::optional<NetnsEtcd> etcd_;  // stopped before its netns goes
  TempDir dir_{"weir-br"};
  std::string var_lib_;
  std::optional<TestNetns> outside_;
};

// A weir-bridge config: a bridge, ranges (one set per subnet; none = L2 only), the store in the
// host's folder (and the host's etcd, on one).
inline json bridge_conf(const Host& host, const std::string& network, const std::string& bridge,
                        const std::vector<std::string>& subnets, const std::string& version = "1.1.0") {
  json c = {{"cniVersion", version}, {"name", network}, {"type", "weir-bridge"}, {"bridge", bridge}};
  if (host.etcd() != nullptr) c["store"] = host.store_object();
  if (subnets.empty()) {
    c["ipam"] = json::object();
    c["dataDir"] = host.data_dir();
    return c;
  }
  json ranges = json::array();
  for (const auto& s : subnets) ranges.push_back(json::array({{{"subnet", s}}}));
  c["ipam"] = {{"type", "weir-ipam"}, {"ranges", ranges}, {"dataDir", host.data_dir()}};
  return c;
}

// Runs `cmd` in ns in the background (output to `log`), for servers; returns its pid (ip netns
// exec execs, so the pid is the command's own).
inline int spawn(const std::string& ns, const std::string& cmd, const std::string& log) {
  std::string pid = sh("ip netns exec " + ns + " sh -c 'exec " + cmd + "' >" + log +
                       " 2>&1 </dev/null & echo $!");
  return std::atoi(pid.c_str());
}

inline void stop(int pid) {
  if (pid > 0) sh("kill " + std::to_string(pid) + " 2>/dev/null; true");
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A TCP or UDP listener in `server_ns` on `listen` (default: `port`); then a client in
// `client_ns` sends a token to `addr`:`port`, retrying for up to ~3 s. True when the listener
// got it.
inline bool reach(const std::string& server_ns, const std::string& client_ns, const std::string& addr,
                  uint16_t port, const std::string& proto = "tcp", int tries = 15, uint16_t listen = 0) {
  static int seq = 0;
  const std::string token = "weir-token-" + std::to_string(::getpid()) + "-" + std::to_string(++seq);
  const std::string log = std::filesystem::temp_directory_path() / ("weir-br-nc-" + token);
  // openbsd nc listens on one family: the one of the address the client uses (a DNAT keeps it).
  const std::string u = std::string(proto == "udp" ? "-u " : "") + (addr.find(':') != std::string::npos ? "-6 " : "");
  const int pid = spawn(server_ns, "timeout 8 nc " + u + "-l " + std::to_string(listen ? listen : port), log);
  bool got = false;
  for (int i = 0; i < tries && !got; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(i == 0 ? 100 : 200));
    const std::string client = proto == "udp" ? "nc -u -w1 " : "nc -N -w1 ";
    sh("ip netns exec " + client_ns + " sh -c 'echo " + token + " | timeout 3 " + client + addr +
       " " + std::to_string(port) + "' >/dev/null 2>&1");
    got = has(read_file(log), token);
  }
  stop(pid);  // now rather than at its timeout
  std::filesystem::remove(log);
  return got;
}

}  // namespace weir::test::bridge
