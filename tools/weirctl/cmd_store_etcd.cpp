// weirctl store status on an etcd store: what the cluster looks like from this host. Only in
// weir-cluster (it needs lib/etcd, hence libcurl): multicall/CMakeLists.txt links this file
// there alone, and it hands its function to cmd_store.cpp before main (set_etcd_status).
//
// It reads with the etcd client, not through EtcdStore: opening that writes the layout version
// on an empty prefix (looking must not write), and its hosts() does not give the presence
// leases whose TTL this shows. Each endpoint is asked on its own (Client::status); the counts
// are count-only ranges (no values travel), so a status costs a few small requests whatever the
// store's size.
#include <cstdio>

#include "lib/etcd/client.hpp"
#include "lib/store/etcd_layout.hpp"
#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

using nlohmann::json;

namespace {

// Member and lease ids as etcdctl prints them.
std::string hex(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(id));
  return buf;
}

std::string error_text(const cni::Error& e) {
  return e.details.empty() ? e.msg : e.msg + " (" + e.details + ")";
}

json error_json(const cni::Error& e) {
  return {{"code", e.code_value()}, {"msg", error_text(e)}};
}

json endpoint_json(etcd::Client& client, const std::string& endpoint) {
  auto s = client.status(endpoint);
  if (!s) return {{"endpoint", endpoint}, {"healthy", false}, {"error", error_text(s.error())}};
  json j = {{"endpoint", endpoint},
            {"healthy", s->leader != 0},
            {"version", s->version},
            {"revision", s->revision},
            {"member", hex(s->member)},
            {"leader", hex(s->leader)},
            {"isLeader", s->leader != 0 && s->leader == s->member},
            {"dbSize", s->db_size}};
  if (s->leader == 0) j["error"] = "the member has no leader";
  return j;
}

Expected<etcd::RangeResult> count(etcd::Client& c, const std::string& prefix) {
  return c.range({.key = prefix, .range_end = etcd::prefix_end(prefix), .count_only = true});
}

// Key counts, the layout version, the hosts present and this host's presence.
Expected<void> read_store(etcd::Client& c, const store::Backend& b, const std::string& network,
                          json& out) {
  const store::etcd_layout::Keys keys(b.prefix, b.host);
  json counts = json::object();
  int64_t revision = 0;
  for (const auto& [name, prefix] :
       {std::pair{"total", b.prefix + "/"}, std::pair{"networks", keys.networks()},
        std::pair{"leases", keys.leases("")}, std::pair{"endpoints", keys.endpoints("")},
        std::pair{"hosts", keys.hosts()}}) {
    auto r = count(c, prefix);
    if (!r) return fail(r.error());
    counts[name] = r->count;
    revision = std::max(revision, r->revision);
  }
  out["keys"] = counts;
  out["revision"] = revision;
  if (!network.empty()) {
    auto leases = count(c, keys.leases(network));
    if (!leases) return fail(leases.error());
    auto endpoints = count(c, keys.endpoints(network));
    if (!endpoints) return fail(endpoints.error());
    auto record = c.range({.key = keys.network(network), .count_only = true});
    if (!record) return fail(record.error());
    out["network"] = {{"name", network},
                      {"record", record->count > 0},
                      {"leases", leases->count},
                      {"endpoints", endpoints->count}};
  }
  auto version = c.range({.key = keys.version()});
  if (!version) return fail(version.error());
  out["layoutVersion"] = version->kvs.empty() ? json(nullptr) : json(version->kvs.front().value);

  const std::string hosts_prefix = keys.hosts();
  auto hosts = c.range({.key = hosts_prefix, .range_end = etcd::prefix_end(hosts_prefix)});
  if (!hosts) return fail(hosts.error());
  out["hosts"] = json::array();
  json self = {{"name", b.host}, {"registered", false}};
  for (const auto& kv : hosts->kvs) {
    const std::string name =
        store::etcd_layout::decode_part(std::string_view(kv.key).substr(hosts_prefix.size()));
    json h = {{"name", name}, {"details", json::parse(kv.value, nullptr, false)}};
    if (h["details"].is_discarded()) h["details"] = kv.value;
    if (kv.lease != 0) {
      auto ttl = c.lease_ttl(kv.lease);
      if (!ttl) return fail(ttl.error());
      h["lease"] = hex(static_cast<uint64_t>(kv.lease));
      h["ttl"] = *ttl;
    }
    if (name == b.host) {
      self["registered"] = true;
      if (h.contains("lease")) {
        self["lease"] = h["lease"];
        self["ttl"] = h["ttl"];
      }
    }
    out["hosts"].push_back(std::move(h));
  }
  out["thisHost"] = self;
  return {};
}

json etcd_store_status(const store::Backend& b, const std::string& network) {
  json out = {{"backend", "etcd"}, {"origin", b.origin}, {"prefix", b.prefix},
              {"host", b.host},    {"ok", false},        {"endpoints", json::array()}};
  auto client = etcd::Client::make(b.etcd);
  if (!client) {
    out["error"] = error_json(client.error());
    return out;
  }
  std::string unreachable;
  bool any = false;
  for (const auto& e : b.etcd.endpoints) {
    json j = endpoint_json(*client, e);
    if (j["healthy"] == true) {
      any = true;
    } else {
      unreachable += (unreachable.empty() ? "" : ", ") + e;
    }
    out["endpoints"].push_back(std::move(j));
  }
  // No member to read from: the reads would only wait for the same timeouts again.
  if (!any) {
    out["error"] =
        error_json(cni::try_again_later("no endpoint of the etcd store answers (" + unreachable +
                                        "): every call on its networks fails with 11 meanwhile"));
    return out;
  }
  if (auto ok = read_store(*client, b, network, out); !ok) {
    out["error"] = error_json(ok.error());
    return out;
  }
  out["ok"] = true;
  return out;
}

// Before main, in weir-cluster only.
const bool registered = (set_etcd_status(etcd_store_status), true);

}  // namespace

}  // namespace weir::ctl
