// weir-macvlan's config: a superset of the reference macvlan plugin's, parsed once into a
// validated struct. Nothing here touches the kernel: the master is resolved by ADD, CHECK and
// STATUS (resolve_master), never by DEL, which must work when the master is gone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/cni/plugin.hpp"
#include "lib/net/addr.hpp"
#include "lib/netlink/netlink.hpp"

namespace weir::plugins::macvlan {

struct MacvlanConfig {
  std::string master;  // "": the link of the default route
  netlink::MacvlanMode mode = netlink::MacvlanMode::kBridge;
  uint32_t mtu = 0;                // 0: the master's
  std::optional<net::Mac> mac;     // config < CNI_ARGS MAC < runtimeConfig mac
  bool link_in_container = false;  // the master is in the container's netns, not the host's
  bool embedded_dns = false;
  std::vector<std::string> dns_servers;  // `dnsServers`: the network's upstreams (none: the host's)
  std::string data_dir;  // the store's folder (store_dir_of): `dataDir`, else weir-ipam's
  std::vector<std::string> aliases;
};

// Every problem is code 7 naming the field.
Expected<MacvlanConfig> parse_config(const cni::Call& call);

// The master link, looked up on sock (the host's, or the container's with linkInContainer).
// A master that is not there, or no master and no default route, is code 7: the config names
// (or implies) a link that does not exist, and only a config or host change fixes it.
Expected<netlink::LinkInfo> resolve_master(netlink::Socket& sock, const MacvlanConfig& cfg);

}  // namespace weir::plugins::macvlan
