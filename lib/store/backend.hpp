// Which store a network's records live in: the network config's "store" object (or its ipam
// section's), else the host-wide file (/etc/weir/store.json, the same object), else SQLite in
// the data folder, as before etcd existed.
//
//   "store": {"type": "etcd", "endpoints": ["https://10.0.0.5:2379", …], "prefix": "/weir",
//             "tls": {"ca": "…", "cert": "…", "key": "…"}, "timeoutMs": 2000, "host": "node-1"}
//   "store": {"type": "sqlite"}     the default, stated (a network that opts out of the file)
//
// weir's executables are static; libcurl, which the etcd store needs, exists only as a shared
// library. So the etcd store lives in `weir-cluster`, the same programs linked dynamically with
// it (multicall/): a static program handed an etcd network runs the call there (handoff.hpp).
// A program that never touches etcd pays one stat of the host-wide file.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "lib/cni/error.hpp"
#include "lib/etcd/client.hpp"
#include "lib/store/store.hpp"

namespace weir::store {

inline constexpr const char* kHostStoreFile = "/etc/weir/store.json";

struct Backend {
  enum class Kind { kSqlite, kEtcd };
  Kind kind = Kind::kSqlite;
  etcd::Config etcd;             // kEtcd
  std::string prefix = "/weir";  // kEtcd: where weir's keys live
  std::string host;              // kEtcd: this host's name in its records (default: hostname)
  std::string origin;            // where it was set: "store", "ipam.store", the file's path, ""

  bool etcd_backed() const { return kind == Kind::kEtcd; }
};

// Whether two backends name the same records: the same SQLite folder is the caller's to compare
// (a spelling of it); two etcd backends are one store when they reach the same cluster the same
// way, under the same prefix, as the same host.
inline bool same_etcd_store(const Backend& a, const Backend& b) {
  return a.etcd_backed() && b.etcd_backed() && a.etcd == b.etcd && a.prefix == b.prefix &&
         a.host == b.host;
}

// Parses a "store" object; `field` names it in errors (code 7: "store.endpoints[0]: …").
Expected<Backend> parse_backend(const nlohmann::json& object, const std::string& field);

// The backend of a network, from its whole config (cni::NetConf::raw): code 7 for a bad
// "store" object or a bad host-wide file (naming it), SQLite when neither says anything.
Expected<Backend> backend_for(const nlohmann::json& netconf,
                              const char* host_file = kHostStoreFile);

// Opens the store a backend names: SQLite in data_dir ("" = the default), or etcd when this
// program is linked with it (set_etcd_opener); otherwise code 102 saying so.
using EtcdOpener = Expected<std::unique_ptr<Store>> (*)(const Backend&);
void set_etcd_opener(EtcdOpener opener);
bool etcd_linked();
Expected<std::unique_ptr<Store>> open_backend(const Backend& backend, const std::string& data_dir);

}  // namespace weir::store
