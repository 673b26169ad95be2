// weir-bridge's config: a superset of the reference bridge plugin's, parsed once into a
// validated struct. Unset values keep the reference plugin's defaults.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/cni/plugin.hpp"
#include "lib/net/addr.hpp"
#include "lib/store/backend.hpp"

namespace weir::plugins::bridge {

struct PortMapping {
  uint16_t host_port = 0;
  uint16_t container_port = 0;
  std::string protocol = "tcp";
  std::optional<net::IpAddr> host_ip;
};

struct BridgeConfig {
  std::string bridge = "weir0";
  bool is_gateway = false;
  bool is_default_gateway = false;
  bool ip_masq = false;
  uint32_t mtu = 0;  // 0: the kernel's default
  // `vethQueues`: the queues of each veth end (netlink::VethSpec::queues). One by default: the
  // kernel's default also has one active, and allocating one per possible CPU makes creating a
  // pair a fifth slower here (more where there are many CPUs). More for XDP that spreads over
  // CPUs (`ethtool -L`); 0 for the kernel's default.
  uint32_t veth_queues = 1;
  bool hairpin = false;
  bool promisc = false;
  bool force_address = false;
  // `macspoofchk`: frames from the container whose source MAC is not its own are dropped where
  // they enter the bridge (lib/firewall's table bridge weir).
  bool macspoofchk = false;
  std::optional<net::Mac> mac;  // container side; config < CNI_ARGS MAC < runtimeConfig mac
  // weir's own
  bool isolation = true;  // no traffic between different weir bridge networks
  bool icc = true;        // containers of this network can reach each other
  bool internal = false;  // no route out, no masquerade
  // `trustedHostInterfaces`: host interfaces from which new connections may be routed straight
  // to the containers' addresses, any port (Docker's trusted_host_interfaces). From anywhere
  // else only replies and published ports enter the network.
  std::vector<std::string> trusted_interfaces;
  bool embedded_dns = false;
  std::vector<std::string> dns_servers;  // `dnsServers`: the network's upstreams (none: the host's)
  std::string data_dir;  // the store's folder (store_dir_of): `dataDir`, else weir-ipam's
  store::Backend backend;  // where the records are (lib/store/backend.hpp)
  // capabilities
  std::vector<PortMapping> ports;
  std::vector<std::string> aliases;
};

// One portMappings entry ({hostPort, containerPort, protocol, hostIP}), as runtimeConfig and
// endpoint records spell it; `where` names it in errors (code 7).
Expected<PortMapping> parse_port(const nlohmann::json& p, const std::string& where);

// Reads the plugin config plus runtimeConfig and CNI_ARGS; every problem is code 7 (or 2 for
// a reference field weir does not implement) with the field's name.
Expected<BridgeConfig> parse_config(const cni::Call& call);

}  // namespace weir::plugins::bridge
