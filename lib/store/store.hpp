// The state store: networks, address leases and endpoints, behind one backend-neutral interface.
// The unit of work is a transaction: callers read and write records inside transact()/view(),
// and either all of a transaction's writes happen or none do. SQLite is the embedded backend
// (lib/store/sqlite.hpp), one file per host; etcd the cluster one (lib/store/etcd_store.hpp),
// shared by every host: a claim is a txn on create_revision == 0. Nothing here mentions either.
//
// On a shared store each lease and endpoint names the host that wrote it (`host`; "" on a store
// of one host): what a host cleans up by itself (GC, the sweep after a reboot) is its own.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"

namespace weir::store {

// A network as IPAM knows it: the subnets it uses (chosen from the default pools, or its
// configured ranges), so that a network keeps its pool and others avoid it.
struct NetworkRecord {
  std::string name{};
  std::vector<net::Cidr> subnets{};
  int64_t created = 0;  // seconds since the epoch

  friend bool operator==(const NetworkRecord&, const NetworkRecord&) = default;
};

// One leased address. An address is leased at most once per network.
struct Lease {
  std::string network{};
  int range_set = 0;  // index into the network's IPAM range sets
  net::IpAddr address{};
  std::string container_id{};
  std::string ifname{};
  std::string netns{};
  int64_t created = 0;
  std::string host{};  // the host that claimed it, on a shared store (set by the store)

  friend bool operator==(const Lease&, const Lease&) = default;
};

// One attachment of a container to a network, as the plugins and the DNS see it.
struct Endpoint {
  std::string network{};
  std::string container_id{};
  std::string ifname{};
  std::string netns{};
  std::string mac{};
  std::string host_ifname{};
  std::vector<net::Cidr> ips{};
  std::vector<std::string> names{};
  std::vector<std::string> aliases{};
  std::string extra{};  // JSON text owned by the plugin that wrote the endpoint ("" = none)
  int64_t created = 0;
  std::string host{};  // the host that wrote it, on a shared store (set by the store)

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// The record operations of one transaction. Valid only inside the transact()/view() callback
// that received it. Writes in a view() fail.
class Txn {
 public:
  virtual ~Txn() = default;

  // Networks.
  virtual Expected<std::optional<NetworkRecord>> get_network(std::string_view name) = 0;
  virtual Expected<void> put_network(const NetworkRecord& network) = 0;  // insert or replace
  virtual Expected<std::vector<NetworkRecord>> list_networks() = 0;
  virtual Expected<void> del_network(std::string_view name) = 0;  // missing is success

  // Leases. claim() creates the lease only if its address is free in its network: false when
  // someone holds it. Lookups go through indexes; no operation here scans all leases except
  // the list_* ones.
  virtual Expected<bool> claim(const Lease& lease) = 0;
  virtual Expected<std::optional<Lease>> get_lease(std::string_view network,
                                                   const net::IpAddr& address) = 0;
  // The lowest address in [from, to] (one family) that has no lease, or nullopt.
  virtual Expected<std::optional<net::IpAddr>> first_free(std::string_view network,
                                                          const net::IpAddr& from,
                                                          const net::IpAddr& to) = 0;
  virtual Expected<std::vector<Lease>> leases_of(std::string_view network,
                                                 std::string_view container_id,
                                                 std::string_view ifname) = 0;
  // Releases every lease of the attachment; returns how many there were (0 is success).
  virtual Expected<int> release(std::string_view network, std::string_view container_id,
                                std::string_view ifname) = 0;
  virtual Expected<bool> release_address(std::string_view network, const net::IpAddr& address) = 0;
  // All leases of a network ("" = of every network), ordered by network and address.
  virtual Expected<std::vector<Lease>> list_leases(std::string_view network) = 0;
  // Leases with an address in [from, to]; costs one index step per lease counted.
  virtual Expected<uint64_t> count_leases(std::string_view network, const net::IpAddr& from,
                                          const net::IpAddr& to) = 0;

  // The last address allocated per (network, range set): where round-robin resumes.
  virtual Expected<std::optional<net::IpAddr>> get_cursor(std::string_view network,
                                                          int range_set) = 0;
  virtual Expected<void> set_cursor(std::string_view network, int range_set,
                                    const net::IpAddr& address) = 0;

  // Endpoints, keyed by (network, container id, ifname); names and aliases are indexed.
  virtual Expected<void> put_endpoint(const Endpoint& endpoint) = 0;  // insert or replace
  virtual Expected<std::optional<Endpoint>> get_endpoint(std::string_view network,
                                                         std::string_view container_id,
                                                         std::string_view ifname) = 0;
  virtual Expected<void> del_endpoint(std::string_view network, std::string_view container_id,
                                      std::string_view ifname) = 0;  // missing is success
  virtual Expected<std::vector<Endpoint>> list_endpoints(std::string_view network) = 0;  // "" = all
  // Whether the network ("" = any network) has an endpoint: one index probe, whatever the
  // network's size.
  virtual Expected<bool> has_endpoints(std::string_view network) = 0;
  // Endpoints of a network whose names or aliases include `name`.
  virtual Expected<std::vector<Endpoint>> endpoints_named(std::string_view network,
                                                          std::string_view name) = 0;

  // Small facts about the store itself (e.g. the boot id of the last sweep); on a shared
  // store, this host's.
  virtual Expected<std::optional<std::string>> get_meta(std::string_view key) = 0;
  virtual Expected<void> put_meta(std::string_view key, std::string_view value) = 0;

  // This host's name on a shared store (Store::host()); "" on a store of this host alone.
  virtual std::string_view host() const { return {}; }
  // Whether a lease or endpoint written by `record_host` is this host's to clean up.
  bool owns(std::string_view record_host) const {
    return record_host.empty() || record_host == host();
  }
};

using TxnFn = std::function<Expected<void>(Txn&)>;

class Store {
 public:
  virtual ~Store() = default;
  // A read-write transaction: fn's writes are committed when it returns success and rolled back
  // when it fails (its error is returned). Writers are serialized; a writer that cannot get its
  // turn within the store's busy timeout fails with code 11 (try again later).
  virtual Expected<void> transact(const TxnFn& fn) = 0;
  // A read-only transaction over a consistent snapshot; it never blocks writers.
  virtual Expected<void> view(const TxnFn& fn) = 0;
  // This host's name on a shared store, which it writes into the leases and endpoints it
  // creates; "" on a store of this host alone. Its transactions say the same (Txn::host).
  virtual std::string_view host() const { return {}; }
  // This host's presence on a shared store: made, or kept alive, for `ttl_seconds` (a host that
  // stops renewing it disappears after that), with `details_json` (etcd_store.hpp
  // register_host). Returns the TTL left; a store of this host alone keeps none and returns 0.
  virtual Expected<int64_t> keep_presence(int64_t /*ttl_seconds*/,
                                          const std::string& /*details_json*/) {
    return int64_t{0};
  }
};

}  // namespace weir::store
