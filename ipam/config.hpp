// The ipam section of a network config, parsed once into a validated IpamConfig. Compatible with
// the reference host-local plugin: `ranges` (range sets), the legacy top-level `subnet`,
// `routes`, `resolvConf`, `dataDir`; plus weir's `allocation`. Requested addresses come from
// runtimeConfig.ips, args.cni.ips and CNI_ARGS IP=. Every error is code 7 and names its field.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ipam/range.hpp"
#include "lib/cni/config.hpp"
#include "lib/cni/env.hpp"
#include "lib/cni/result.hpp"

namespace weir::ipam {

// Round-robin resumes after the last address handed out, so a freed address is not reused at
// once (stale ARP entries and DNS caches); lowest takes the lowest free one, as Docker does.
enum class Order { kRoundRobin, kLowest };

struct RequestedIp {
  net::IpAddr addr;
  std::string source;  // the field it came from, for messages: "runtimeConfig.ips[0]"
};

struct IpamConfig {
  std::string network;               // the network's name: leases are kept per network
  std::vector<RangeSet> range_sets;  // empty: an IPv4 subnet from the default pools
  std::vector<cni::Route> routes;
  cni::Dns dns;          // from resolvConf
  std::string data_dir;  // folder of weir.db: ipam.dataDir, else the plugin's dataDir
  Order order = Order::kRoundRobin;
  std::vector<RequestedIp> requested;
};

Expected<IpamConfig> parse_config(const cni::NetConf& conf, const cni::CniArgs& args);

// What DEL and GC need, read leniently so that they work even when the rest of the section no
// longer parses: the folder of the database.
std::string data_dir_of(const cni::NetConf& conf);

// Reads a resolv.conf into a DNS section (nameserver, domain, search, options lines).
Expected<cni::Dns> read_resolv_conf(const std::string& path);

}  // namespace weir::ipam
