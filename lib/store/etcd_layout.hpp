// The keys and values of the etcd store (internal to lib/store; etcd_store.hpp documents the
// layout). Each part of a key is percent-encoded ('/' and '%'), so '/' only ever separates parts
// and a prefix ending in '/' never matches a longer name.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"
#include "lib/store/store.hpp"

namespace weir::store::etcd_layout {

std::string encode_part(std::string_view part);
std::string decode_part(std::string_view part);
// "4-" + 8 hex digits or "6-" + 32 (lower case): keys sort as the addresses do, IPv4 first.
std::string addr_key(const net::IpAddr& a);
std::optional<net::IpAddr> parse_addr_key(std::string_view key);
// DNS names match case-insensitively (ASCII, as SQLite's NOCASE): the name index holds them so.
std::string fold_name(std::string_view name);

class Keys {
 public:
  Keys(std::string prefix, std::string host) : p_(std::move(prefix)), host_(encode_part(host)) {}

  std::string version() const { return p_ + "/version"; }
  // network "" = every network.
  std::string network(std::string_view name) const { return p_ + "/networks/" + encode_part(name); }
  std::string networks() const { return p_ + "/networks/"; }
  std::string lease(std::string_view network, const net::IpAddr& a) const {
    return leases(network) + addr_key(a);
  }
  std::string leases(std::string_view network) const { return under("/leases/", network); }
  std::string attachment(std::string_view network, std::string_view container_id,
                         std::string_view ifname, const net::IpAddr& a) const {
    return attachments(network, container_id, ifname) + addr_key(a);
  }
  std::string attachments(std::string_view network, std::string_view container_id,
                          std::string_view ifname) const {
    return p_ + "/attachments/" + encode_part(network) + "/" + encode_part(container_id) + "/" +
           encode_part(ifname) + "/";
  }
  std::string cursor(std::string_view network, int range_set) const {
    return p_ + "/cursors/" + encode_part(network) + "/" + std::to_string(range_set);
  }
  std::string endpoint(std::string_view network, std::string_view container_id,
                       std::string_view ifname) const {
    return endpoints(network) + encode_part(container_id) + "/" + encode_part(ifname);
  }
  std::string endpoints(std::string_view network) const { return under("/endpoints/", network); }
  std::string name(std::string_view network, std::string_view name, std::string_view container_id,
                   std::string_view ifname) const {
    return names(network, name) + encode_part(container_id) + "/" + encode_part(ifname);
  }
  std::string names(std::string_view network, std::string_view name) const {
    return p_ + "/names/" + encode_part(network) + "/" + encode_part(fold_name(name)) + "/";
  }
  std::string meta(std::string_view key) const {
    return p_ + "/meta/" + host_ + "/" + encode_part(key);
  }
  std::string host(std::string_view name) const { return hosts() + encode_part(name); }
  std::string hosts() const { return p_ + "/hosts/"; }

 private:
  std::string under(std::string_view what, std::string_view network) const {
    std::string k = p_ + std::string(what);
    if (!network.empty()) k += encode_part(network) + "/";
    return k;
  }
  std::string p_;
  std::string host_;
};

// Records as JSON values. Decoding fails with code 102 naming the key.
std::string encode(const NetworkRecord& n);
std::string encode(const Lease& l);
std::string encode(const Endpoint& e);
Expected<NetworkRecord> decode_network(std::string_view key, std::string_view value);
Expected<Lease> decode_lease(std::string_view key, std::string_view value);
Expected<Endpoint> decode_endpoint(std::string_view key, std::string_view value);

}  // namespace weir::store::etcd_layout
