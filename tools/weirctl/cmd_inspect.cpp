// weirctl inspect NETWORK: what `docker network inspect` shows, from the network's config and
// weir's store: the plugin chain, subnets and gateways, the driver options as configured, the
// embedded DNS, every attached container (names, addresses, MAC, host veth, published ports)
// and the weir-agent serving it. NETWORK is a config (name in NETCONFPATH or a file) or a name
// only the store still knows.
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

using nlohmann::json;

namespace {

struct InspectOptions {
  std::string network;
  std::string data_dir;
};

// What the store holds for the network.
struct Stored {
  bool exists = false;  // the store itself
  bool known = false;
  std::optional<store::NetworkRecord> record;
  std::vector<store::Endpoint> endpoints;
  std::vector<store::Lease> leases;
};

Expected<Stored> read_store(const Globals& g, const store::Backend& b, const std::string& data_dir,
                            const std::string& network) {
  Stored s;
  if (auto here = where_the_store_is(g, b); !here) return fail(here.error());
  auto db = open_records(g, b, data_dir);
  if (!db && !b.etcd_backed()) return s;  // nothing stored yet
  if (!db) return fail(db.error());
  s.exists = true;
  auto ok = (*db)->view([&](store::Txn& t) -> Expected<void> {
    auto known = known_in_store(t, network);
    if (!known) return fail(known.error());
    s.known = *known;
    auto rec = t.get_network(network);
    if (!rec) return fail(rec.error());
    s.record = std::move(*rec);
    auto eps = t.list_endpoints(network);
    if (!eps) return fail(eps.error());
    s.endpoints = std::move(*eps);
    auto leases = t.list_leases(network);
    if (!leases) return fail(leases.error());
    s.leases = std::move(*leases);
    return {};
  });
  if (!ok) return fail(ok.error());
  return s;
}

// Subnets with their gateways: weir-ipam's ranges as it parses them, else the ipam section's
// own ranges (host-local's shape), else the subnets the store recorded for the network.
json subnets_json(const NetworkRef& ref, const Stored& st) {
  json out = json::array();
  if (ref.config) {
    if (auto c = ipam_config_of(*ref.config)) {
      for (const auto& set : c->range_sets) {
        for (const auto& r : set) {
          out.push_back({{"subnet", r.subnet.str()},
                         {"gateway", r.gateway.str()},
                         {"rangeStart", r.start.str()},
                         {"rangeEnd", r.end.str()}});
        }
      }
      return out;
    }
    for (const auto& plugin : ref.config->plugins) {
      const json ipam = plugin.value("ipam", json::object());
      if (!ipam.is_object()) continue;
      for (const auto& set : ipam.value("ranges", json::array())) {
        for (const auto& r : set.is_array() ? set : json::array()) {
          if (!r.is_object() || !r.contains("subnet")) continue;
          json j = {{"subnet", r["subnet"]}};
          if (r.contains("gateway")) j["gateway"] = r["gateway"];
          out.push_back(std::move(j));
        }
      }
      if (ipam.contains("subnet")) {
        json j = {{"subnet", ipam["subnet"]}};
        if (ipam.contains("gateway")) j["gateway"] = ipam["gateway"];
        out.push_back(std::move(j));
      }
    }
    if (!out.empty()) return out;
  }
  if (st.record) {
    for (const auto& s : st.record->subnets) {
      json j = {{"subnet", s.str()}};
      if (auto r = ipam::make_range({.subnet = s}, "subnet")) j["gateway"] = r->gateway.str();
      out.push_back(std::move(j));
    }
  }
  return out;
}

// The main plugin's settings as configured (Docker's "Options"): everything but what says
// which plugin it is, its IPAM and the capabilities a runtime fills.
json options_json(const NetworkRef& ref, const Stored& st) {
  json out = json::object();
  if (ref.config && !ref.config->plugins.empty()) {
    for (const auto& [k, v] : ref.config->plugins.front().items()) {
      if (k == "type" || k == "ipam" || k == "capabilities" || k == "name" || k == "cniVersion") {
        continue;
      }
      out[k] = v;
    }
    return out;
  }
  // No config any more: what the endpoints recorded.
  for (const auto& e : st.endpoints) {
    json extra = json::parse(e.extra, nullptr, false);
    if (extra.is_object() && extra.contains("bridge")) out["bridge"] = extra["bridge"];
  }
  return out;
}

std::string short_id(const std::string& id) {
  return id.substr(0, 12);
}

json container_json(const store::Endpoint& e) {
  json extra = json::parse(e.extra, nullptr, false);
  std::string name;
  for (const auto& n : e.names) {
    if (n != short_id(e.container_id)) {
      name = n;
      break;
    }
  }
  json ips = json::array();
  for (const auto& ip : e.ips) ips.push_back(ip.str());
  json j = {{"id", e.container_id}, {"name", name},        {"names", e.names},
            {"aliases", e.aliases}, {"ifname", e.ifname},  {"ips", ips},
            {"mac", e.mac},         {"hostVeth", e.host_ifname}, {"netns", e.netns},
            {"created", e.created}};
  j["ports"] = extra.is_object() && extra.contains("portMappings") ? extra["portMappings"]
                                                                   : json::array();
  return j;
}

// Every attachment: its endpoint record, or only its leases (an IPAM-only network).
json containers_json(const Stored& st) {
  json out = json::array();
  std::map<std::pair<std::string, std::string>, size_t> at;
  for (const auto& e : st.endpoints) {
    at[{e.container_id, e.ifname}] = out.size();
    out.push_back(container_json(e));
  }
  for (const auto& l : st.leases) {
    auto key = std::make_pair(l.container_id, l.ifname);
    if (at.contains(key)) continue;
    at[key] = out.size();
    out.push_back({{"id", l.container_id}, {"name", ""}, {"names", json::array()},
                   {"aliases", json::array()}, {"ifname", l.ifname}, {"ips", json::array()},
                   {"mac", ""}, {"hostVeth", ""}, {"netns", l.netns}, {"created", l.created},
                   {"ports", json::array()}});
  }
  // Addresses from leases for attachments without an endpoint record.
  for (const auto& l : st.leases) {
    json& c = out[at[{l.container_id, l.ifname}]];
    if (c["mac"] == "" && c["hostVeth"] == "") c["ips"].push_back(l.address.str());
  }
  return out;
}

json inspect_json(const NetworkRef& ref, const Stored& st, const AgentView& agent) {
  json plugins = json::array();
  json ipam_type = nullptr;
  if (ref.config) {
    for (const auto& p : ref.config->plugins) {
      plugins.push_back(p.value("type", ""));
      if (p.contains("ipam") && p["ipam"].is_object() && p["ipam"].contains("type")) {
        ipam_type = p["ipam"]["type"];
      }
    }
  }
  bool dns_on = agent.dns;
  if (ref.config && !ref.config->plugins.empty()) {
    dns_on = dns_on || ref.config->plugins.front().value("embeddedDNS", false) == true;
  }
  return {{"name", ref.name},
          {"config", ref.config.has_value()},
          {"cniVersion", ref.config ? json(ref.config->cni_version) : json(nullptr)},
          {"plugins", plugins},
          {"ipam", ipam_type},
          {"dataDir", ref.data_dir},
          {"subnets", subnets_json(ref, st)},
          {"options", options_json(ref, st)},
          {"dns",
           {{"enabled", dns_on},
            {"listen", agent.dns_listen},
            {"inContainer", agent.dns_in_netns},
            {"upstreams", agent.upstreams}}},
          {"containers", containers_json(st)},
          {"agent", agent_json(agent)}};
}

std::string scalar(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

void print_text(const json& j, const AgentView& agent) {
  auto row = [](const std::string& k) -> std::ostream& {
    return std::cout << "  " << std::left << std::setw(11) << k << " ";
  };
  std::cout << "network \"" << scalar(j["name"]) << "\"" << (j["config"] ? "" : " (no config: only in the store)")
            << "\n";
  if (!j["plugins"].empty()) {
    row("plugins");
    for (size_t i = 0; i < j["plugins"].size(); ++i) std::cout << (i ? ", " : "") << scalar(j["plugins"][i]);
    if (!j["ipam"].is_null()) std::cout << "; ipam " << scalar(j["ipam"]);
    std::cout << "\n";
  }
  for (const auto& s : j["subnets"]) {
    row("subnet") << scalar(s["subnet"]);
    if (s.contains("gateway")) std::cout << ", gateway " << scalar(s["gateway"]);
    std::cout << "\n";
  }
  if (!j["options"].empty()) {
    row("options");
    bool first = true;
    for (const auto& [k, v] : j["options"].items()) {
      std::cout << (first ? "" : " ") << k << "=" << scalar(v);
      first = false;
    }
    std::cout << "\n";
  }
  row("dns") << (j["dns"]["enabled"] && !agent.dns ? "on (no container yet)" : dns_text(agent)) << "\n";
  row("agent") << agent_text(agent) << "\n";
  row("containers") << j["containers"].size() << "\n";
  for (const auto& c : j["containers"]) {
    std::cout << "    " << std::left << std::setw(14) << short_id(c["id"].get<std::string>()) << " "
              << std::setw(12) << (c["name"] == "" ? "-" : scalar(c["name"])) << " " << std::setw(6)
              << scalar(c["ifname"]);
    for (const auto& ip : c["ips"]) std::cout << " " << scalar(ip);
    if (c["mac"] != "") std::cout << " " << scalar(c["mac"]);
    if (c["hostVeth"] != "") std::cout << " " << scalar(c["hostVeth"]);
    for (const auto& p : c["ports"]) {
      std::cout << " " << (p.contains("hostIP") ? scalar(p["hostIP"]) + ":" : "") << scalar(p["hostPort"])
                << "->" << scalar(p["containerPort"]) << "/" << scalar(p.value("protocol", json("tcp")));
    }
    if (c["aliases"].size() > 0) {
      std::cout << " aliases";
      for (const auto& a : c["aliases"]) std::cout << " " << scalar(a);
    }
    std::cout << "\n";
  }
}

int inspect(const Globals& g, const InspectOptions& o) {
  const NetworkRef ref = find_network(g, o.network, o.data_dir);
  auto backend = backend_of(g, ref.config);
  if (!backend) return print_error(g, "inspect", backend.error());
  auto st = read_store(g, *backend, ref.data_dir, ref.name);
  if (!st) return print_error(g, "inspect", st.error());
  if (!ref.config && !st->known) {
    return print_error(g, "inspect", no_such_network(g, ref.name, ref.data_dir, *backend));
  }
  const AgentView agent = agent_view(ref.data_dir, ref.name, st->endpoints);
  const json j = inspect_json(ref, *st, agent);
  if (g.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    print_text(j, agent);
  }
  return 0;
}

}  // namespace

void register_inspect(CLI::App& app, Globals& g, int& exit_code) {
  auto o = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand(
      "inspect", "a network's plugins, subnets, options, DNS, containers and agent");
  cmd->add_option("network", o->network, "network name, or a network config")->required();
  cmd->add_option("--data-dir", o->data_dir,
                  "store folder (default: the network config's dataDir, else /var/lib/weir)");
  cmd->callback([&g, &exit_code, o] { exit_code = inspect(g, *o); });
}

}  // namespace weir::ctl
