// weirctl ipam ls [NETWORK] | release NETWORK …: what weir-ipam has leased, and a way to free
// an address by hand. NETWORK is a name in the store, or a network config (name in NETCONFPATH
// or a file) whose weir-ipam section says where the store is and which ranges it has.
#include <iomanip>
#include <iostream>
#include <map>

#include "ipam/ipam.hpp"
#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

using nlohmann::json;

namespace {

struct IpamOptions {
  std::string network;
  std::string data_dir;  // "" = from the network's config, else /var/lib/weir
  std::string container_id;
  std::string ifname;
  std::string ip;
};

// Where to look: the store (the folder, or etcd) and, when NETWORK names a weir-ipam config,
// its ranges.
struct Target {
  std::string data_dir = std::string(store::kDefaultDataDir);
  store::Backend backend;
  std::string network;
  std::optional<ipam::IpamConfig> config;
  bool has_config = false;  // NETWORK names a config (of any IPAM)
};

Expected<Target> resolve(const Globals& g, const IpamOptions& o) {
  Target t;
  t.network = o.network;
  std::optional<cni::NetConfList> list;
  if (!o.network.empty()) {
    if (auto l = load(g, o.network)) {
      list = std::move(*l);
      t.network = list->name;
      t.has_config = true;
      t.config = ipam_config_of(*list);
      if (t.config) t.data_dir = t.config->data_dir;
    }
  }
  if (!o.data_dir.empty()) t.data_dir = o.data_dir;
  auto b = backend_of(g, list);
  if (!b) return fail(b.error());
  t.backend = std::move(*b);
  return t;
}

// SQLite as weir-ipam opens it: the first look after a reboot releases the leases of vanished
// netns. etcd as it is (each host sweeps its own records).
Expected<std::unique_ptr<store::Store>> open_existing(const Globals& g, const Target& t) {
  if (t.backend.etcd_backed()) return open_records(g, t.backend, t.data_dir);
  if (auto db = open_existing_store(t.data_dir); !db) return fail(db.error());
  auto db = ipam::open_store(t.data_dir);
  if (!db) return fail(db.error());
  return std::unique_ptr<store::Store>(std::make_unique<store::SqliteStore>(std::move(*db)));
}

struct RangeUse {
  ipam::Range range;
  uint64_t leased = 0;
  uint64_t free = 0;
};

// The configured ranges when the config is at hand, else the recorded subnets with the defaults.
std::vector<ipam::Range> ranges_of(const Target& t, const store::NetworkRecord& rec) {
  std::vector<ipam::Range> out;
  if (t.config && t.config->network == rec.name && !t.config->range_sets.empty()) {
    for (const auto& set : t.config->range_sets) out.insert(out.end(), set.begin(), set.end());
    return out;
  }
  for (const auto& s : rec.subnets) {
    if (auto r = ipam::make_range({.subnet = s}, "subnet")) out.push_back(*r);
  }
  return out;
}

Expected<std::vector<RangeUse>> usage(store::Txn& txn, const Target& t,
                                      const store::NetworkRecord& rec) {
  std::vector<RangeUse> out;
  for (const auto& r : ranges_of(t, rec)) {
    auto n = txn.count_leases(rec.name, r.start, r.end);
    if (!n) return fail(n.error());
    out.push_back({r, *n, r.capacity() > *n ? r.capacity() - *n : 0});
  }
  return out;
}

// One network as ls shows it.
struct NetView {
  store::NetworkRecord record;
  std::vector<RangeUse> use;
  std::vector<store::Lease> leases;
};

// The networks with a record, plus any that only leases mention.
Expected<std::vector<NetView>> collect(store::Txn& txn, const Target& t) {
  auto leases = txn.list_leases(t.network);
  if (!leases) return fail(leases.error());
  auto records = txn.list_networks();
  if (!records) return fail(records.error());
  std::map<std::string, NetView> nets;
  for (auto& r : *records) nets[r.name].record = std::move(r);
  // A configured weir-ipam network is shown with its ranges before its first lease.
  if (t.config && t.config->network == t.network) nets[t.network].record.name = t.network;
  for (auto& l : *leases) {
    auto& view = nets[l.network];
    view.record.name = l.network;
    view.leases.push_back(std::move(l));
  }
  std::vector<NetView> out;
  for (auto& [name, view] : nets) {
    if (!t.network.empty() && name != t.network) continue;
    auto use = usage(txn, t, view.record);
    if (!use) return fail(use.error());
    view.use = std::move(*use);
    out.push_back(std::move(view));
  }
  return out;
}

// A shared store's leases name their host; a store of one host has none to show.
json lease_json(const store::Lease& l) {
  json j = {
      {"address", l.address.str()}, {"rangeSet", l.range_set}, {"containerId", l.container_id},
      {"ifname", l.ifname},         {"netns", l.netns},        {"created", l.created}};
  if (!l.host.empty()) j["host"] = l.host;
  return j;
}

json network_json(const NetView& n) {
  json j = {{"name", n.record.name}, {"subnets", json::array()}, {"leases", json::array()}};
  for (const auto& u : n.use) {
    j["subnets"].push_back({{"range", u.range.str()},
                            {"gateway", u.range.gateway.str()},
                            {"leased", u.leased},
                            {"free", u.free}});
  }
  for (const auto& l : n.leases) j["leases"].push_back(lease_json(l));
  return j;
}

void print_network(const NetView& n) {
  std::cout << "network \"" << n.record.name << "\"\n";
  for (const auto& u : n.use) {
    std::cout << "  " << std::left << std::setw(40) << u.range.str() << " " << u.leased
              << " leased, " << u.free << " free, gateway " << u.range.gateway.str() << "\n";
  }
  for (const auto& l : n.leases) {
    std::cout << "    " << std::left << std::setw(26) << l.address.str() << " " << std::setw(20)
              << l.container_id << " " << std::setw(8) << l.ifname << " " << l.netns;
    if (!l.host.empty()) std::cout << "  host " << l.host;
    std::cout << "\n";
  }
}

int ls(const Globals& g, const IpamOptions& o) {
  const auto target = resolve(g, o);
  if (!target) return print_error(g, "ipam ls", target.error());
  const Target& t = *target;
  auto db = open_existing(g, t);
  if (!db) return print_error(g, "ipam ls", db.error());
  std::vector<NetView> nets;
  auto ok = (*db)->view([&](store::Txn& txn) -> Expected<void> {
    auto got = collect(txn, t);
    if (!got) return fail(got.error());
    nets = std::move(*got);
    return {};
  });
  if (!ok) return print_error(g, "ipam ls", ok.error());
  if (!t.network.empty() && nets.empty() && !t.has_config) {
    return print_error(g, "ipam ls", no_such_network(g, t.network, t.data_dir, t.backend));
  }
  if (!g.json) {
    if (!t.network.empty() && nets.empty()) {
      std::cout << "network \"" << t.network << "\": no weir-ipam lease or subnet in the store\n";
    }
    for (const auto& n : nets) print_network(n);
    return 0;
  }
  json out = json::array();
  for (const auto& n : nets) out.push_back(network_json(n));
  std::cout << json{{"networks", out}}.dump(2) << "\n";
  return 0;
}

bool matches(const IpamOptions& o, const store::Lease& l) {
  if (!o.ip.empty()) return l.address == net::IpAddr::parse(o.ip);
  return l.container_id == o.container_id && (o.ifname.empty() || l.ifname == o.ifname);
}

int release(const Globals& g, const IpamOptions& o) {
  if (o.ip.empty() == o.container_id.empty()) {
    return print_error(g, "ipam release", cni::invalid_config("give --container-id or --ip"));
  }
  if (!o.ip.empty() && !net::IpAddr::parse(o.ip)) {
    return print_error(g, "ipam release",
                       cni::invalid_config("--ip \"" + o.ip + "\" is not an IP address"));
  }
  const auto target = resolve(g, o);
  if (!target) return print_error(g, "ipam release", target.error());
  const Target& t = *target;
  auto db = open_existing(g, t);
  if (!db) return print_error(g, "ipam release", db.error());
  std::vector<store::Lease> gone;
  auto ok = (*db)->transact([&](store::Txn& txn) -> Expected<void> {
    auto leases = txn.list_leases(t.network);
    if (!leases) return fail(leases.error());
    for (const auto& l : *leases) {
      if (!matches(o, l)) continue;
      if (auto r = txn.release_address(l.network, l.address); !r) return fail(r.error());
      gone.push_back(l);
    }
    return {};
  });
  if (!ok) return print_error(g, "ipam release", ok.error());
  if (g.json) {
    json j = json::array();
    for (const auto& l : gone) j.push_back(lease_json(l));
    std::cout << json{{"released", j}}.dump(2) << "\n";
  } else if (gone.empty()) {
    std::cout << "no lease matched on network \"" << t.network << "\"\n";
  }
  for (const auto& l : gone) {
    if (!g.json)
      std::cout << "released " << l.address.str() << " (" << l.container_id << ", " << l.ifname
                << ")\n";
  }
  return 0;
}

void add_data_dir(CLI::App& cmd, IpamOptions& o) {
  cmd.add_option("--data-dir", o.data_dir,
                 "store folder (default: the network's ipam.dataDir, else /var/lib/weir)");
}

}  // namespace

void register_ipam(CLI::App& app, Globals& g, int& exit_code) {
  auto o = std::make_shared<IpamOptions>();
  auto* ipam = app.add_subcommand("ipam", "look at weir-ipam's leases, release them by hand");
  ipam->require_subcommand(1);

  auto* ls_cmd =
      ipam->add_subcommand("ls", "subnets, free counts and leases of one or every network");
  ls_cmd->add_option("network", o->network, "network name, or a network config");
  add_data_dir(*ls_cmd, *o);
  ls_cmd->callback([&g, &exit_code, o] { exit_code = ls(g, *o); });

  auto* rel = ipam->add_subcommand("release", "release leases of a container, or one address");
  rel->add_option("network", o->network, "network name, or a network config")->required();
  add_data_dir(*rel, *o);
  auto* cid = rel->add_option("--container-id", o->container_id, "release this container's leases");
  rel->add_option("--ifname", o->ifname, "only the leases of this interface")->needs(cid);
  rel->add_option("--ip", o->ip, "release this address")->excludes(cid);
  rel->callback([&g, &exit_code, o] { exit_code = release(g, *o); });
}

}  // namespace weir::ctl
