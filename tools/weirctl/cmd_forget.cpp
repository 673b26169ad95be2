// weirctl forget NETWORK [--force]: drop what weir still holds for a network whose config is
// gone (podman's `network rm`/`prune` remove the config; the leases and records stay). Like
// `docker network rm`, it refuses while the network is in use: while its config exists (a
// runtime may still attach to it) or while an attachment's netns still exists. --force takes
// both: the live attachments' host veths go too (their containers lose the interface's link).
//
// What goes: the network's leases, endpoint records and subnet record in the store; its nftables
// rules (lib/firewall, tagged "weir:<network>") and the table when nothing else uses it; the
// bridge weir-bridge made for it (alias "weir:<network>") unless an endpoint of another network
// is on it; libcni's cached results for it. The running weir-agent is told, so its names go.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <tuple>

#include "agent/client/control.hpp"
#include "lib/firewall/firewall.hpp"
#include "lib/netlink/netlink.hpp"
#include "plugins/bridge/marks.hpp"
#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct ForgetOptions {
  std::string network;
  std::string data_dir;
  bool force = false;
};

struct Attachment {
  std::string container_id;
  std::string ifname;
  std::string netns;
  bool operator<(const Attachment& o) const {
    return std::tie(container_id, ifname) < std::tie(o.container_id, o.ifname);
  }
};

struct Stored {
  bool known = false;
  bool record = false;  // the subnets IPAM reserved for it
  std::vector<store::Endpoint> endpoints;
  std::vector<store::Lease> leases;
  std::set<std::string> other_bridges;  // bridges other networks' endpoints are on
};

Expected<Stored> read(store::Store& db, const std::string& network) {
  Stored s;
  auto ok = db.view([&](store::Txn& t) -> Expected<void> {
    auto known = known_in_store(t, network);
    if (!known) return fail(known.error());
    s.known = *known;
    auto rec = t.get_network(network);
    if (!rec) return fail(rec.error());
    s.record = rec->has_value();
    auto all = t.list_endpoints("");
    if (!all) return fail(all.error());
    for (auto& e : *all) {
      if (e.network == network) {
        s.endpoints.push_back(std::move(e));
      } else if (auto br = plugins::bridge::recorded_bridge(e); !br.empty()) {
        s.other_bridges.insert(br);
      }
    }
    auto leases = t.list_leases(network);
    if (!leases) return fail(leases.error());
    s.leases = std::move(*leases);
    return {};
  });
  if (!ok) return fail(ok.error());
  return s;
}

// The attachments whose netns still exists: someone may still use them. A netns path that
// cannot be looked at (anything but "not there") counts as existing.
std::set<Attachment> live_attachments(const Stored& s) {
  std::set<Attachment> out;
  auto add = [&](const std::string& id, const std::string& ifname, const std::string& netns) {
    std::error_code ec;
    const bool exists = fs::exists(netns, ec);
    if (!netns.empty() && (exists || ec)) out.insert({id, ifname, netns});
  };
  for (const auto& e : s.endpoints) add(e.container_id, e.ifname, e.netns);
  for (const auto& l : s.leases) add(l.container_id, l.ifname, l.netns);
  return out;
}

// The kernel's part, before the store's: every step tolerates absence, so a forget that fails
// half-way can be run again.
Expected<std::vector<std::string>> forget_kernel(const std::string& network, const NetworkRef& ref,
                                                 const Stored& s, bool host_veths) {
  std::vector<std::string> done;
  std::set<std::string> bridges;
  for (const auto& e : s.endpoints) {
    if (auto br = plugins::bridge::recorded_bridge(e); !br.empty()) bridges.insert(br);
  }
  if (ref.config) {
    for (const auto& p : ref.config->plugins) {
      if (p.value("type", "") == "weir-bridge") bridges.insert(p.value("bridge", "weir0"));
    }
  }
  const bool has_rules = [&] {
    auto nets = firewall::list_networks();
    return nets && std::find(nets->begin(), nets->end(), network) != nets->end();
  }();
  if (bridges.empty() && !has_rules && !host_veths) return done;

  auto sock = netlink::Socket::open();
  if (!sock) return fail(sock.error());
  if (host_veths) {
    for (const auto& e : s.endpoints) {
      if (e.host_ifname.empty()) continue;
      auto link = netlink::get_link(*sock, e.host_ifname);
      if (!link || !plugins::bridge::port_of(*link, network, e.container_id, e.ifname)) {
        continue;  // gone already, or not this attachment's
      }
      if (auto ok = netlink::del_link(*sock, link->index); !ok) return fail(ok.error());
      done.push_back("veth " + e.host_ifname);
    }
  }
  if (has_rules) {
    if (auto ok = firewall::del_network(network); !ok) return fail(ok.error());
    if (auto ok = firewall::del_table_if_unused(); !ok) return fail(ok.error());
    done.push_back("firewall rules");
  }
  for (const auto& br : bridges) {
    if (s.other_bridges.contains(br)) continue;  // another network's containers are on it
    auto link = netlink::get_link(*sock, br);
    if (!link || !plugins::bridge::made_for(*link, network)) continue;
    if (auto ok = netlink::del_link(*sock, link->index); !ok) return fail(ok.error());
    done.push_back("bridge " + br);
  }
  return done;
}

Expected<void> forget_store(store::Store& db, const std::string& network, const Stored& s) {
  return db.transact([&](store::Txn& t) -> Expected<void> {
    for (const auto& e : s.endpoints) {
      if (auto ok = t.del_endpoint(network, e.container_id, e.ifname); !ok) return ok;
    }
    for (const auto& l : s.leases) {
      if (auto ok = t.release_address(network, l.address); !ok) return fail(ok.error());
    }
    return t.del_network(network);
  });
}

// libcni's cached results of the network's attachments (a later `weirctl gc` has no config to
// DEL them with).
int forget_cache(const Globals& g, const std::string& network) {
  int n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(g.cache_dir + "/results", ec)) {
    std::ifstream in(entry.path());
    json j = json::parse(in, nullptr, false);
    if (!j.is_object() || j.value("networkName", "") != network) continue;
    if (fs::remove(entry.path(), ec)) ++n;
  }
  return n;
}

int forget(const Globals& g, const ForgetOptions& o) {
  const NetworkRef ref = find_network(g, o.network, o.data_dir);
  const std::string& network = ref.name;
  if (ref.config && !o.force) {
    return print_error(g, "forget",
                       cni::invalid_config("network \"" + network +
                                           "\" still has a config in NETCONFPATH: a runtime may "
                                           "still attach to it; remove the config first (podman "
                                           "network rm), or give --force"));
  }
  // On a shared store the network's records are every host's: not one host's to drop.
  auto backend = backend_of(g, ref.config);
  if (!backend) return print_error(g, "forget", backend.error());
  if (backend->etcd_backed()) return print_error(g, "forget", sqlite_only("forget", *backend));
  auto db = open_existing_store(ref.data_dir);
  if (!db) return print_error(g, "forget", no_such_network(g, network, ref.data_dir));
  auto st = read(*db, network);
  if (!st) return print_error(g, "forget", st.error());
  if (!st->known && !ref.config) {
    return print_error(g, "forget", no_such_network(g, network, ref.data_dir));
  }
  const auto live = live_attachments(*st);
  if (!live.empty() && !o.force) {
    std::string which;
    for (const auto& a : live) {
      which += (which.empty() ? "" : ", ") + a.container_id + "/" + a.ifname + " in " + a.netns;
    }
    return print_error(g, "forget",
                       cni::invalid_config("network \"" + network + "\" has " +
                                           std::to_string(live.size()) +
                                           " attachment(s) whose netns still exists: " + which +
                                           " (DEL them, or give --force)"));
  }
  auto kernel = forget_kernel(network, ref, *st, o.force);
  if (!kernel) return print_error(g, "forget", kernel.error());
  if (auto ok = forget_store(*db, network, *st); !ok) return print_error(g, "forget", ok.error());
  const int cached = forget_cache(g, network);
  // The agent drops the names at once; one with nothing left to serve then exits.
  if (!st->endpoints.empty() && agent::running_agent(ref.data_dir)) {
    if (auto ok = agent::sync_agent({.data_dir = ref.data_dir, .start = false}); !ok) {
      std::cerr << "weirctl: forget: weir-agent did not take the change: " << ok.error().msg << "\n";
    }
  }
  if (g.json) {
    std::cout << json{{"network", network},
                      {"leases", st->leases.size()},
                      {"endpoints", st->endpoints.size()},
                      {"subnetRecord", st->record},
                      {"cachedResults", cached},
                      {"removed", *kernel}}
                     .dump(2)
              << "\n";
    return 0;
  }
  std::cout << "forgot network \"" << network << "\": " << st->leases.size() << " lease(s), "
            << st->endpoints.size() << " endpoint record(s), " << (st->record ? "its subnets, " : "")
            << cached << " cached result(s)";
  for (const auto& what : *kernel) std::cout << ", " << what;
  std::cout << "\n";
  return 0;
}

}  // namespace

void register_forget(CLI::App& app, Globals& g, int& exit_code) {
  auto o = std::make_shared<ForgetOptions>();
  auto* cmd = app.add_subcommand(
      "forget", "drop the leases, records, rules and bridge of a network whose config is gone");
  cmd->add_option("network", o->network, "the network's name (or its config, with --force)")
      ->required();
  cmd->add_option("--data-dir", o->data_dir,
                  "store folder (default: the network config's dataDir, else /var/lib/weir)");
  cmd->add_flag("--force", o->force,
                "also while its config exists or its containers' netns do (their veths go)");
  cmd->callback([&g, &exit_code, o] { exit_code = forget(g, *o); });
}

}  // namespace weir::ctl
