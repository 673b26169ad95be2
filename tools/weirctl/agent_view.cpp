// What status and inspect say about weir-agent: its pid and log, and the DNS it serves for one
// network, derived from the store exactly as the agent derives it.
#include <algorithm>

#include "agent/client/control.hpp"
#include "dns/records.hpp"
#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

using nlohmann::json;

AgentView agent_view(const std::string& data_dir, const std::string& network,
                     const std::vector<store::Endpoint>& endpoints) {
  AgentView a{.pid = agent::running_agent(data_dir),
              .data_dir = data_dir,
              .log = agent::paths_for(data_dir).log};
  std::vector<store::Endpoint> mine;
  std::copy_if(endpoints.begin(), endpoints.end(), std::back_inserter(mine),
               [&](const store::Endpoint& e) { return e.network == network; });
  const dns::Plan plan = dns::plan_from(mine);
  for (const auto& n : plan.networks) {
    if (n.name != network) continue;
    a.dns = true;
    for (const auto& ip : n.listen) a.dns_listen.push_back(ip.str());
    for (const auto& u : n.upstreams) a.upstreams.push_back(u.str());
  }
  if (a.dns && a.dns_listen.empty()) {
    a.dns_in_netns = true;
    a.dns_listen.emplace_back(dns::kContainerResolver);
  }
  return a;
}

json agent_json(const AgentView& a) {
  json j = {{"dataDir", a.data_dir}, {"log", a.log}, {"running", a.pid.has_value()}};
  j["pid"] = a.pid ? json(*a.pid) : json(nullptr);
  j["dns"] = a.dns_listen;
  if (a.dns) {
    j["dnsInContainer"] = a.dns_in_netns;
    j["upstreams"] = a.upstreams;
  }
  return j;
}

std::string agent_text(const AgentView& a) {
  if (!a.pid) return "no agent running for " + a.data_dir + " (the next ADD starts one)";
  return "weir-agent " + std::to_string(*a.pid) + " serves " + a.data_dir + ", log " + a.log;
}

std::string dns_text(const AgentView& a) {
  if (!a.dns) return "no DNS";
  std::string out = "DNS on";
  for (const auto& ip : a.dns_listen) out += " " + ip;
  if (a.dns_in_netns) out += " in each container";
  out += ", upstreams";
  if (a.upstreams.empty()) out += " of the host";
  for (const auto& u : a.upstreams) out += " " + u;
  return out;
}

}  // namespace weir::ctl
