// Endpoint records in the store: what ADD made, so that DEL, CHECK and GC work from the store
// and not from the caller's memory, and so that the embedded DNS knows every name. Shared by
// every plugin that attaches a container.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lib/cni/plugin.hpp"
#include "lib/store/store.hpp"

namespace weir::plugins {

struct EndpointInfo {
  std::string mac{};
  std::string host_ifname{};  // "" when the plugin leaves nothing in the host
  std::vector<net::Cidr> ips{};
  std::vector<std::string> aliases{};
  nlohmann::json extra = nlohmann::json::object();  // the plugin's own facts
  // Runs in the transaction that writes the record, before it: the plugin's last check against
  // the other records (published ports), so that two ADDs racing cannot both pass it.
  std::function<Expected<void>(store::Txn&)> admit{};
};

// The container's name: CNI_ARGS K8S_POD_NAME (as podman and Kubernetes send it), else the
// config's args.cni.name or args.name; "" when none is given.
std::string container_name(const cni::Call& call);

// Records the attachment of call (network, container id, ifname, netns). Its DNS names are
// the container's name (container_name) and the 12-character short id, as Docker does.
Expected<void> save_endpoint(store::Store& st, const cni::Call& call, const EndpointInfo& info);
Expected<std::optional<store::Endpoint>> load_endpoint(store::Store& st, const cni::Call& call);
// CHECK's first step: the attachment's record, or code 101 naming what is missing.
Expected<store::Endpoint> require_endpoint(store::Store& st, const cni::Call& call);
Expected<void> forget_endpoint(store::Store& st, const std::string& network,
                               const std::string& container_id, const std::string& ifname);
// This host's endpoints of a network ("" = of every network), and whether it has any: on a
// store shared by several hosts (etcd) the others' are not ours to count, clean up or clash
// with (a bridge, a veth name, a host port are one host's); on SQLite, every record.
Expected<std::vector<store::Endpoint>> list_endpoints(store::Store& st, const std::string& network);
Expected<bool> has_endpoints(store::Store& st, const std::string& network);

// The aliases a runtime asks for: runtimeConfig.aliases as podman sends it
// ({"<network>": ["alias", …]}) or a plain list.
Expected<std::vector<std::string>> parse_aliases(const cni::NetConf& conf);

}  // namespace weir::plugins
