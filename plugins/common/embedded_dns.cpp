#include "plugins/common/embedded_dns.hpp"

#include <algorithm>

#include "agent/control.hpp"

namespace weir::plugins {

void mark_dns_endpoint(nlohmann::json& extra, const std::vector<net::IpAddr>& listen) {
  extra["embeddedDNS"] = true;
  auto& list = extra["dnsListen"] = nlohmann::json::array();
  for (const auto& ip : listen) list.push_back(ip.str());
}

bool dns_endpoint(const std::string& extra_json) {
  auto j = nlohmann::json::parse(extra_json.empty() ? "{}" : extra_json, nullptr, false);
  return j.is_object() && j.value("embeddedDNS", false) == true;
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

Expected<void> sync_dns(const std::string& data_dir, bool start) {
  auto ok = agent::sync_agent({.data_dir = data_dir, .start = start});
  if (!ok) return fail(std::move(ok.error()).context("embedded DNS"));
  return {};
}

}  // namespace weir::plugins
