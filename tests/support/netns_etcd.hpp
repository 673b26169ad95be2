// A throw-away etcd (tests/support/etcd_fixture.hpp) inside a test netns that plays the host, so
// that plugins run there (nsenter --net) reach it on that netns's 127.0.0.1: the privileged
// tests' "host" has no route to the test process's own loopback. etcd and etcdctl are started
// from the test thread while it has entered the netns (a child is born in its parent thread's
// netns); the thread goes back to its own netns at once.
//
//   NetnsEtcd etcd(host_netns_path);           // lo brought up, etcd started there
//   conf["store"] = etcd.store_object();       // {"type": "etcd", "endpoints": [...], "prefix":
//   ...} etcd.keys("/leases/net/")                  // the keys under <prefix>/leases/net/
//   (etcdctl)
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "lib/store/store.hpp"
#include "tests/support/etcd_fixture.hpp"
#include "tests/support/netns.hpp"

namespace weir::test {

// Which store a parameterised test runs its network on.
enum class StoreKind { kSqlite, kEtcd };

inline const char* store_kind_name(StoreKind k) {
  return k == StoreKind::kEtcd ? "etcd" : "sqlite";
}
inline void PrintTo(StoreKind k, std::ostream* os) {
  *os << store_kind_name(k);
}

// Skips the test when etcd, or weir-cluster (the plugins' build with the etcd store), is missing.
#define WEIR_REQUIRE_STORE(kind)                                                                \
  do {                                                                                          \
    if ((kind) == ::weir::test::StoreKind::kEtcd) {                                             \
      WEIR_REQUIRE_ETCD();                                                                      \
      if (::access(WEIR_BIN_DIR "/weir-cluster", X_OK) != 0) GTEST_SKIP() << "no weir-cluster"; \
    }                                                                                           \
  } while (0)

// The calling thread in another netns for its lifetime.
class InNetns {
 public:
  explicit InNetns(const std::string& path)
      : home_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
    const int target = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    const bool ok = home_ >= 0 && target >= 0 && ::setns(target, CLONE_NEWNET) == 0;
    if (target >= 0) ::close(target);
    if (!ok) {
      if (home_ >= 0) ::close(home_);
      throw std::runtime_error("cannot enter netns " + path);
    }
  }
  ~InNetns() {
    (void)::setns(home_, CLONE_NEWNET);
    ::close(home_);
  }
  InNetns(const InNetns&) = delete;
  InNetns& operator=(const InNetns&) = delete;

 private:
  int home_;
};

class NetnsEtcd {
 public:
  static constexpr const char* kPrefix = "/weirt";
  static constexpr const char* kHostName = "weirt-node-a";

  // `netns` names the netns (ip -n) and `path` is its file.
  NetnsEtcd(const std::string& netns, const std::string& path) : path_(path) {
    sh("ip -n " + netns + " link set lo up");
    InNetns in(path_);
    etcd_ = std::make_unique<EtcdCluster>();
  }

  // The network config's "store" object; `host` is the name this host's records carry.
  nlohmann::json store_object(const std::string& host = kHostName) const {
    // A long attempt: under the tests' load one etcd request may wait for seconds.
    return {{"type", "etcd"},
            {"endpoints", etcd_->endpoints()},
            {"prefix", kPrefix},
            {"host", host},
            {"timeoutMs", 15000}};
  }

  std::string etcdctl(const std::vector<std::string>& args) const {
    InNetns in(path_);
    return etcd_->etcdctl(args);
  }
  // The keys under <prefix><under> ("" = every key of weir's).
  std::vector<std::string> keys(const std::string& under = "") const {
    std::istringstream lines(
        etcdctl({"get", std::string(kPrefix) + under, "--prefix", "--keys-only"}));
    std::vector<std::string> out;
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) out.push_back(line);
    }
    return out;
  }
  // The keys of records about attachments (leases, their index, endpoints, their names): none
  // is left once every attachment is deleted.
  std::vector<std::string> attachment_keys() const {
    std::vector<std::string> out;
    for (const char* kind : {"/leases/", "/attachments/", "/endpoints/", "/names/"}) {
      for (auto& k : keys(kind)) out.push_back(std::move(k));
    }
    return out;
  }
  // An endpoint record as etcd holds it (lib/store/etcd_layout.cpp's JSON), nullopt if none.
  std::optional<store::Endpoint> endpoint(const std::string& network, const std::string& id,
                                          const std::string& ifname = "eth0") const {
    return parse_endpoint(
        etcdctl({"get", std::string(kPrefix) + "/endpoints/" + network + "/" + id + "/" + ifname,
                 "--print-value-only"}));
  }
  // Every endpoint record of a network.
  std::vector<store::Endpoint> endpoints(const std::string& network) const {
    std::istringstream lines(etcdctl({"get", std::string(kPrefix) + "/endpoints/" + network + "/",
                                      "--prefix", "--print-value-only"}));
    std::vector<store::Endpoint> out;
    for (std::string line; std::getline(lines, line);) {
      if (auto ep = parse_endpoint(line)) out.push_back(std::move(*ep));
    }
    return out;
  }

  static std::optional<store::Endpoint> parse_endpoint(const std::string& value) {
    const auto j = nlohmann::json::parse(value, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    store::Endpoint ep{.network = j.value("network", ""),
                       .container_id = j.value("container_id", ""),
                       .ifname = j.value("ifname", ""),
                       .netns = j.value("netns", ""),
                       .mac = j.value("mac", ""),
                       .host_ifname = j.value("host_ifname", ""),
                       .names = j.value("names", std::vector<std::string>{}),
                       .aliases = j.value("aliases", std::vector<std::string>{}),
                       .extra = j.value("extra", ""),
                       .created = j.value("created", int64_t{0}),
                       .host = j.value("host", "")};
    for (const auto& ip : j.value("ips", std::vector<std::string>{})) {
      if (auto c = net::Cidr::parse(ip)) ep.ips.push_back(*c);
    }
    return ep;
  }

 private:
  std::string path_;
  std::unique_ptr<EtcdCluster> etcd_;
};

}  // namespace weir::test
