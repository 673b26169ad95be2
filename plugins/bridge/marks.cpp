#include "plugins/bridge/marks.hpp"

#include "lib/store/data_dir.hpp"

namespace weir::plugins::bridge {

std::string bridge_alias(const std::string& network) {
  return std::string(kBridgeAliasPrefix) + network;
}

bool made_for(const netlink::LinkInfo& br, const std::string& network) {
  return br.alias == bridge_alias(network);
}

std::string recorded_bridge(const store::Endpoint& ep) {
  return recorded_bridge(nlohmann::json::parse(ep.extra, nullptr, false));
}

std::string recorded_bridge(const nlohmann::json& extra) {
  if (extra.is_object() && extra.contains("bridge") && extra["bridge"].is_string()) {
    return extra["bridge"].get<std::string>();
  }
  return {};
}

std::string store_mark(const std::string& data_dir) {
  return store::link_mark(data_dir);
}

std::string port_alias(const std::string& mark, const std::string& network,
                       const std::string& container_id, const std::string& ifname) {
  std::string alias = mark + network + "/" + container_id + "/" + ifname;
  if (alias.size() > 255) alias.resize(255);  // IFALIASZ, with its NUL
  return alias;
}

bool carries_mark(const netlink::LinkInfo& link, const std::string& mark) {
  return link.kind == "veth" && link.alias.starts_with(mark);
}

bool marked_ours(const netlink::LinkInfo& link, const std::string& mark) {
  return link.alias.empty() || link.alias.starts_with(mark);
}

bool port_of(const netlink::LinkInfo& link, const std::string& network,
             const std::string& container_id, const std::string& ifname) {
  return link.kind == "veth" && link.alias.starts_with("weir-port:") &&
         link.alias.ends_with(":" + network + "/" + container_id + "/" + ifname);
}

}  // namespace weir::plugins::bridge
