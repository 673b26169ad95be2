// weirctl dns ls [NETWORK] | query NAME [--from CONTAINER] [--network N]: what weir-agent serves,
// computed from the store exactly as the agent computes it (dns::plan_from, dns::build_zone),
// so no packet and no running agent are needed. NETWORK is a name in the store, or a network
// config (name in NETCONFPATH or a file) whose dataDir (or ipam.dataDir) says where the store is.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>

#include "agent/client/control.hpp"
#include "dns/records.hpp"
#include "dns/resolv.hpp"
#include "dns/wire.hpp"
#include "dns/zone.hpp"
#include "lib/store/sqlite.hpp"
#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

using nlohmann::json;

namespace {

struct DnsOptions {
  std::string network;
  std::string data_dir;  // "" = from the network's config, else /var/lib/weir
  std::string name;
  std::string from;
  std::string type;  // "" = A and AAAA (PTR for an address)
  std::string resolv_conf = "/etc/resolv.conf";
};

// Where to look: the store (lib/store/backend.hpp) and, for SQLite, its folder: --data-dir,
// else the folder of the network's config, else the default. A NETWORK that names a config is
// replaced by the network's name.
struct Where {
  std::string data_dir;
  store::Backend backend;
  bool has_config = false;
};

Expected<Where> resolve(const Globals& g, DnsOptions& o) {
  auto ref = find_network(g, o.network, o.data_dir);
  o.network = ref.name;
  auto b = backend_of(g, ref.config);
  if (!b) return fail(b.error());
  return Where{
      .data_dir = ref.data_dir, .backend = std::move(*b), .has_config = ref.config.has_value()};
}

// What the agent of this data dir serves: the plan and the zone built from it.
struct Served {
  dns::Plan plan;
  std::shared_ptr<const dns::Zone> zone;
  bool known = false;  // the store knows `network` (when one was asked about)
  std::map<std::string, std::set<std::string>> hosts;  // container id → hosts (shared store)
};

Expected<Served> load_served(const Globals& g, const Where& w, const std::string& resolv_conf,
                             const std::string& network = {}) {
  auto db = open_records(g, w.backend, w.data_dir);  // looking must not create a store
  if (!db) return fail(db.error());
  std::vector<store::Endpoint> endpoints;
  bool known = false;
  auto ok = (*db)->view([&](store::Txn& t) -> Expected<void> {
    auto eps = t.list_endpoints("");
    if (!eps) return fail(eps.error());
    endpoints = std::move(*eps);
    if (network.empty()) return {};
    auto k = known_in_store(t, network);
    if (!k) return fail(k.error());
    known = *k;
    return {};
  });
  if (!ok) return fail(ok.error());
  Served s{.plan = dns::plan_from(endpoints)};
  for (const auto& e : endpoints) {
    if (!e.host.empty()) s.hosts[e.container_id].insert(e.host);
  }
  // The same options as the agent's sync (agent/agent.cpp).
  dns::ZoneOptions zo{.skip_invalid_endpoints = true};
  if (auto ups = dns::read_resolv_conf(resolv_conf)) zo.host_upstreams = std::move(*ups);
  auto zone = dns::build_zone(s.plan.networks, s.plan.endpoints, zo);
  if (!zone) return fail(zone.error());
  s.zone = std::move(*zone);
  s.known = known;
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return s;
}

std::string short_id(const std::string& id) {
  return id.substr(0, dns::kShortIdLen);
}

// ---- ls

struct Record {
  std::set<std::string> addresses;
  std::set<std::string> containers;  // short ids
  std::set<std::string> hosts;       // where those containers are, on a shared store
};

json network_json(const dns::ZoneNetwork& n, const std::map<std::string, Record>& records) {
  json j = {{"name", n.name},
            {"listen", json::array()},
            {"upstreams", json::array()},
            {"records", json::array()}};
  for (const auto& ip : n.listen) j["listen"].push_back(ip.str());
  for (const auto& u : n.upstreams) j["upstreams"].push_back(u.str());
  for (const auto& [name, r] : records) {
    json rec = {{"name", name}, {"addresses", r.addresses}, {"containers", r.containers}};
    if (!r.hosts.empty()) rec["hosts"] = r.hosts;
    j["records"].push_back(std::move(rec));
  }
  return j;
}

int ls(const Globals& g, DnsOptions o) {
  const auto where = resolve(g, o);
  if (!where) return print_error(g, "dns ls", where.error());
  const bool has_config = where->has_config;
  auto served = load_served(g, *where, o.resolv_conf, o.network);
  if (!served) return print_error(g, "dns ls", served.error());
  if (!o.network.empty() &&
      std::none_of(served->plan.networks.begin(), served->plan.networks.end(),
                   [&](const dns::ZoneNetwork& n) { return n.name == o.network; })) {
    if (!has_config && !served->known) {
      return print_error(g, "dns ls",
                         no_such_network(g, o.network, where->data_dir, where->backend));
    }
    if (g.json) {
      std::cout << json{{"networks", json::array()}}.dump(2) << "\n";
    } else {
      std::cout << "network \"" << o.network
                << "\": no embedded DNS (embeddedDNS is off, or no container is attached)\n";
    }
    return 0;
  }
  json out = json::array();
  for (const auto& n : served->plan.networks) {
    if (!o.network.empty() && n.name != o.network) continue;
    // name -> addresses, as the zone indexes them: names, aliases and the short id.
    std::map<std::string, Record> records;
    for (const auto& e : served->plan.endpoints) {
      if (e.network != n.name) continue;
      std::vector<std::string> labels = e.names;
      labels.insert(labels.end(), e.aliases.begin(), e.aliases.end());
      labels.push_back(short_id(e.container_id));
      for (const auto& label : labels) {
        auto& r = records[lower(label)];
        for (const auto& ip : e.ips) r.addresses.insert(ip.str());
        r.containers.insert(short_id(e.container_id));
        if (auto h = served->hosts.find(e.container_id); h != served->hosts.end()) {
          r.hosts.insert(h->second.begin(), h->second.end());
        }
      }
    }
    if (g.json) {
      out.push_back(network_json(n, records));
      continue;
    }
    std::cout << "network \"" << n.name << "\"";
    if (!n.listen.empty()) {
      std::cout << ", DNS on";
      for (const auto& ip : n.listen) std::cout << " " << ip.str();
    } else {
      std::cout << ", DNS on " << dns::kContainerResolver << " in each container";
    }
    std::cout << ", upstreams";
    if (n.upstreams.empty()) std::cout << " of the host";
    for (const auto& u : n.upstreams) std::cout << " " << u.str();
    std::cout << "\n";
    for (const auto& [name, r] : records) {
      std::cout << "  " << std::left << std::setw(32) << name;
      for (const auto& a : r.addresses) std::cout << " " << a;
      if (!r.hosts.empty()) {
        std::cout << "  on";
        for (const auto& h : r.hosts) std::cout << " " << h;
      }
      std::cout << "\n";
    }
  }
  for (const auto& why : served->zone->skipped())
    std::cerr << "weirctl: not served: " << why << "\n";
  if (g.json) std::cout << json{{"networks", out}}.dump(2) << "\n";
  return 0;
}

// ---- query

// The endpoints of the container named by --from: its id, a unique id prefix (the short id),
// or a unique container name.
Expected<std::string> find_container(const Served& s, const std::string& from) {
  std::set<std::string> exact, prefix, named;
  for (const auto& e : s.plan.endpoints) {
    if (e.container_id == from) exact.insert(e.container_id);
    if (e.container_id.rfind(from, 0) == 0) prefix.insert(e.container_id);
    for (const auto& n : e.names) {
      if (lower(n) == lower(from)) named.insert(e.container_id);
    }
  }
  for (const auto* set : {&exact, &prefix, &named}) {
    if (set->size() == 1) return *set->begin();
    if (set->size() > 1) {
      return fail(cni::invalid_config("--from \"" + from + "\" matches " +
                                      std::to_string(set->size()) + " containers"));
    }
  }
  return fail(cni::unknown_container("no container \"" + from + "\" on a DNS network"));
}

// Who asks: a container (its scope is every network it is on), or a client of one network
// the store does not know (a container the store has no record of).
struct Asker {
  dns::Client client;
  std::string container;  // full id; "" for a client of `network`
  std::string network;
};

Expected<Asker> asker_for(const Served& s, const DnsOptions& o) {
  const dns::ZoneNetwork* net = nullptr;
  if (!o.network.empty()) {
    for (const auto& n : s.plan.networks) {
      if (n.name == o.network) net = &n;
    }
    if (net == nullptr) {
      return fail(cni::invalid_config("network \"" + o.network + "\" has no DNS endpoint"));
    }
  }
  if (!o.from.empty()) {
    auto id = find_container(s, o.from);
    if (!id) return fail(id.error());
    if (net != nullptr) {
      const bool on = std::any_of(
          s.plan.endpoints.begin(), s.plan.endpoints.end(),
          [&](const auto& e) { return e.container_id == *id && e.network == net->name; });
      if (!on) {
        return fail(cni::invalid_config("container \"" + o.from + "\" is not on network \"" +
                                        net->name + "\""));
      }
    }
    return Asker{.container = *id};
  }
  if (net == nullptr) {
    if (s.plan.networks.size() != 1) {
      return fail(cni::invalid_config("give --from CONTAINER or --network NETWORK (" +
                                      std::to_string(s.plan.networks.size()) + " DNS networks)"));
    }
    net = &s.plan.networks.front();
  }
  Asker a{.network = net->name};
  // A member the store does not know: an address of the subnet that is not its gateway's,
  // asking the gateway (the host itself is no member, zone.hpp).
  if (!net->listen.empty()) a.client.local = net->listen.front();
  for (const auto& subnet : net->subnets) {
    if (subnet.family() != a.client.local.family() && !net->listen.empty()) continue;
    net::IpAddr ip = subnet.network().first().next();
    if (ip == a.client.local) ip = ip.next();
    a.client.addr = ip;
    break;
  }
  return a;
}

Expected<std::vector<uint16_t>> query_types(const std::string& type, bool reverse) {
  if (type.empty())
    return reverse ? std::vector<uint16_t>{dns::kTypePTR}
                   : std::vector<uint16_t>{dns::kTypeA, dns::kTypeAAAA};
  const std::string t = lower(type);
  if (t == "a") return std::vector<uint16_t>{dns::kTypeA};
  if (t == "aaaa") return std::vector<uint16_t>{dns::kTypeAAAA};
  if (t == "ptr") return std::vector<uint16_t>{dns::kTypePTR};
  if (t == "any") return std::vector<uint16_t>{dns::kTypeANY};
  return fail(cni::invalid_config("--type must be A, AAAA, PTR or ANY, not \"" + type + "\""));
}

std::string type_name(uint16_t t) {
  switch (t) {
    case dns::kTypeA:
      return "A";
    case dns::kTypeAAAA:
      return "AAAA";
    case dns::kTypePTR:
      return "PTR";
    default:
      return "ANY";
  }
}

json lookup_json(uint16_t type, const dns::Lookup& l) {
  json j = {{"type", type_name(type)}, {"result", std::string(dns::to_string(l.kind))}};
  if (l.kind == dns::Kind::kAnswer || l.kind == dns::Kind::kNoData ||
      l.kind == dns::Kind::kNxDomain) {
    j["ttl"] = l.ttl;
  }
  json answers = json::array();
  for (size_t i = 0; i < l.count; ++i) {
    answers.push_back(l.ptr ? std::string(l.names[i]) : l.addrs[i].str());
  }
  if (l.kind == dns::Kind::kAnswer) j["answers"] = answers;
  if (l.kind == dns::Kind::kForward) {
    j["upstreams"] = json::array();
    for (const auto& u : l.upstreams) j["upstreams"].push_back(u.str());
  }
  return j;
}

void print_lookup(const std::string& qname, uint16_t type, const dns::Lookup& l) {
  std::cout << qname << " " << type_name(type) << ": ";
  switch (l.kind) {
    case dns::Kind::kAnswer:
      for (size_t i = 0; i < l.count; ++i) {
        std::cout << (i ? " " : "") << (l.ptr ? std::string(l.names[i]) : l.addrs[i].str());
      }
      std::cout << " (ttl " << l.ttl << ")\n";
      break;
    case dns::Kind::kNoData:
      std::cout << "no " << type_name(type) << " record (NOERROR, no answer)\n";
      break;
    case dns::Kind::kNxDomain:
      std::cout << "NXDOMAIN\n";
      break;
    case dns::Kind::kForward:
      if (l.upstreams.empty()) {
        std::cout << "not weir's, and no upstream: SERVFAIL\n";
        break;
      }
      std::cout << "not weir's: forwarded to";
      for (const auto& u : l.upstreams) std::cout << " " << u.str();
      std::cout << "\n";
      break;
    case dns::Kind::kRefuse:
      std::cout << "REFUSED (not weir's, and this client may not recurse)\n";
      break;
  }
}

int query(const Globals& g, DnsOptions o) {
  const auto where = resolve(g, o);
  if (!where) return print_error(g, "dns query", where.error());
  auto served = load_served(g, *where, o.resolv_conf);
  if (!served) return print_error(g, "dns query", served.error());
  auto asker = asker_for(*served, o);
  if (!asker) return print_error(g, "dns query", asker.error());
  // The client views the container id: point it at the id where it now lives.
  dns::Client client = asker->client;
  client.container_id = asker->container;

  // An address asks for its PTR, as `host` and `dig -x` do.
  std::string qname = o.name;
  const auto ip = net::IpAddr::parse(o.name);
  if (ip) qname = dns::reverse_name(*ip);
  auto name = dns::Name::from_text(qname);
  if (!name)
    return print_error(g, "dns query", cni::invalid_config("\"" + o.name + "\" is not a DNS name"));
  auto types = query_types(o.type, ip.has_value());
  if (!types) return print_error(g, "dns query", types.error());

  const auto scope = served->zone->scope_of(client);
  json lookups = json::array();
  if (!g.json) {
    std::cout << "asked by "
              << (asker->container.empty() ? "a client of network \"" + asker->network + "\""
                                           : "container " + short_id(asker->container))
              << ", which sees";
    if (scope.networks.empty()) std::cout << " no network";
    for (const auto& n : scope.networks) std::cout << " " << n;
    std::cout << "\n";
  }
  auto lookup = std::make_unique<dns::Lookup>();  // ~5 KiB: not on the stack
  for (uint16_t t : *types) {
    served->zone->lookup(client, *name, t, *lookup);
    if (g.json) {
      lookups.push_back(lookup_json(t, *lookup));
    } else {
      print_lookup(std::string(name->text()), t, *lookup);
    }
  }
  if (g.json) {
    json j = {{"name", std::string(name->text())},
              {"scope", {{"networks", scope.networks}, {"recursion", scope.recursion}}},
              {"lookups", lookups}};
    if (!asker->container.empty()) j["container"] = asker->container;
    if (!asker->network.empty()) j["network"] = asker->network;
    std::cout << j.dump(2) << "\n";
  }
  return 0;
}

void add_common(CLI::App& cmd, DnsOptions& o) {
  cmd.add_option("--data-dir", o.data_dir,
                 "store folder (default: the network config's dataDir, else /var/lib/weir)");
  cmd.add_option("--resolv-conf", o.resolv_conf, "the host's resolvers, as weir-agent reads them")
      ->capture_default_str();
}

}  // namespace

void register_dns(CLI::App& app, Globals& g, int& exit_code) {
  auto o = std::make_shared<DnsOptions>();
  auto* dns_cmd = app.add_subcommand("dns", "what the embedded DNS (weir-agent) answers");
  dns_cmd->require_subcommand(1);

  auto* ls_cmd = dns_cmd->add_subcommand("ls", "names and addresses of one or every DNS network");
  ls_cmd->add_option("network", o->network, "network name, or a network config");
  add_common(*ls_cmd, *o);
  ls_cmd->callback([&g, &exit_code, o] { exit_code = ls(g, *o); });

  auto* q =
      dns_cmd->add_subcommand("query", "what a container would get for NAME (no packet sent)");
  q->add_option("name", o->name, "a name, or an address for its PTR")->required();
  q->add_option("--from", o->from, "the asking container: id, short id or name");
  q->add_option("--network", o->network, "the network asked on (a client the store does not know)");
  q->add_option("--type", o->type, "A, AAAA, PTR or ANY (default: A and AAAA; PTR for an address)");
  add_common(*q, *o);
  q->callback([&g, &exit_code, o] { exit_code = query(g, *o); });
}

}  // namespace weir::ctl
