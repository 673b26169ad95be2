#include "plugins/common/embedded_dns.hpp"

#include <algorithm>

#include "agent/client/control.hpp"
#include "dns/sockaddr.hpp"

namespace weir::plugins {

void mark_dns_endpoint(nlohmann::json& extra, const DnsMark& mark) {
  extra["embeddedDNS"] = true;
  auto& list = extra["dnsListen"] = nlohmann::json::array();
  for (const auto& ip : mark.listen) list.push_back(ip.str());
  if (!mark.servers.empty()) extra["dnsServers"] = mark.servers;
  if (mark.in_netns) extra["dnsInNetns"] = true;
  if (mark.internal) extra["dnsInternal"] = true;
}

Expected<std::vector<std::string>> parse_dns_servers(const nlohmann::json& conf) {
  std::vector<std::string> out;
  if (!conf.is_object() || !conf.contains("dnsServers") || conf["dnsServers"].is_null()) return out;
  const auto& list = conf["dnsServers"];
  if (!list.is_array())
    return fail(cni::invalid_config("\"dnsServers\" must be a list of addresses"));
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "\"dnsServers[" + std::to_string(i) + "]\"";
    if (!list[i].is_string()) return fail(cni::invalid_config(where + " must be a string"));
    auto addr = dns::SocketAddr::parse(list[i].get<std::string>());
    if (!addr) {
      return fail(cni::invalid_config(where + " is not an address (IP or IP:port): \"" +
                                      list[i].get<std::string>() + "\""));
    }
    out.push_back(addr->str());
  }
  return out;
}

bool dns_endpoint(const std::string& extra_json) {
  return dns_endpoint(nlohmann::json::parse(extra_json.empty() ? "{}" : extra_json, nullptr, false));
}

bool dns_endpoint(const nlohmann::json& extra) {
  // Host-networked containers have names on every DNS network (dns/records.hpp).
  return extra.is_object() &&
         (extra.value("embeddedDNS", false) == true || extra.value("hostNetwork", false) == true);
}

cni::Dns dns_for(const std::string& network, const std::vector<net::IpAddr>& resolvers,
                 const cni::Dns& configured) {
  cni::Dns d = configured;
  std::vector<std::string> ours;
  for (const auto& ip : resolvers) ours.push_back(ip.str());
  // Ours first: the agent answers weir's names and forwards the rest.
  for (const auto& ns : d.nameservers) {
    if (std::find(ours.begin(), ours.end(), ns) == ours.end()) ours.push_back(ns);
  }
  d.nameservers = std::move(ours);
  if (std::find(d.search.begin(), d.search.end(), network) == d.search.end()) {
    d.search.insert(d.search.begin(), network);
  }
  return d;
}

Expected<void> refuse_dns_on_etcd(const store::Backend& backend) {
  if (!backend.etcd_backed()) return {};
  return fail(cni::unsupported_field("embedded DNS on an etcd store is not supported yet (" +
                                     backend.origin +
                                     " names one): set \"embeddedDNS\": false, or give this "
                                     "network \"store\": {\"type\": \"sqlite\"}"));
}

Expected<void> sync_dns(const std::string& data_dir, bool start) {
  auto ok = agent::sync_agent({.data_dir = data_dir, .start = start});
  if (!ok) return fail(std::move(ok.error()).context("embedded DNS"));
  return {};
}

}  // namespace weir::plugins
