// weirctl store status [NETWORK] | check | rebuild [--data-dir DIR]: which store weir uses and
// how it is; and what an operator does when weir refuses its SQLite store (code 102: empty,
// truncated, not a weir store, a schema this weir does not know) or suspects it.
//
// status shows the store the network (or, without one, this host) uses: a SQLite file and its
// record counts, or an etcd store (cmd_store_etcd.cpp, in weir-cluster) with its endpoints'
// health, revision, key counts, the hosts present and this host's presence lease.
//
// check reads only: the file (as the plugins open it, then SQLite's integrity check and the
// lease index), the endpoint records against the leases (an address a container uses that no
// lease holds could be handed out again), and the kernel's links with this store's mark
// against the records.
//
// rebuild makes a new store from what is left: whatever the old file still holds (a store of an
// unknown schema, or one that fails the integrity check, may still be readable), and every host
// veth with this store's mark (weir-port:<store>:<network>/<container>/<ifname>), whose peer's
// addresses are read in its container's netns. Those addresses are leased again, so no ADD hands
// them out. The new store is made under a temporary name and renamed over weir.db; the old file
// (and its -wal, -shm) stay next to it as weir.db.broken-<time>. A running weir-agent sees the
// new file on its next call.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <tuple>

#include "lib/netlink/netlink.hpp"
#include "lib/netns/netns.hpp"
#include "lib/store/data_dir.hpp"
#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

using nlohmann::json;

namespace {

struct StoreOptions {
  std::string data_dir;
  std::string network;
};

using Key = std::tuple<std::string, std::string, std::string>;  // network, container, ifname

Key key_of(const store::Endpoint& e) { return {e.network, e.container_id, e.ifname}; }

// A host veth with this store's mark, and what its container's end holds.
struct LiveAttachment {
  store::Endpoint endpoint;  // as weir-bridge would have recorded it (names: the short id)
  bool found_peer = false;   // its container's netns was found, and its addresses read
};

// Every netns we can name: the named ones first (their paths are what runtimes pass), then
// those of running processes. One path per namespace.
std::vector<std::string> netns_paths() {
  std::vector<std::string> out;
  std::set<std::pair<dev_t, ino_t>> seen;
  struct stat own {};
  if (::stat("/proc/self/ns/net", &own) == 0) seen.insert({own.st_dev, own.st_ino});
  auto add = [&](const std::string& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && seen.insert({st.st_dev, st.st_ino}).second) out.push_back(p);
  };
  for (const char* dir : {"/var/run/netns", "/proc"}) {
    DIR* d = ::opendir(dir);
    if (d == nullptr) continue;
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      if (std::string_view(dir) == "/proc") {
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        add("/proc/" + name + "/ns/net");
      } else {
        add(std::string(dir) + "/" + name);
      }
    }
    ::closedir(d);
  }
  return out;
}

// "weir-port:<store>:<network>/<container>/<ifname>" → the attachment.
std::optional<Key> parse_alias(const std::string& alias, const std::string& mark) {
  if (!alias.starts_with(mark)) return std::nullopt;
  const std::string rest = alias.substr(mark.size());
  const size_t b = rest.rfind('/');
  if (b == std::string::npos || b == 0) return std::nullopt;
  const size_t a = rest.rfind('/', b - 1);
  if (a == std::string::npos || a == 0) return std::nullopt;
  return Key{rest.substr(0, a), rest.substr(a + 1, b - a - 1), rest.substr(b + 1)};
}

// The host veths of this store in the current netns, with their containers' addresses.
Expected<std::vector<LiveAttachment>> live_attachments(const std::string& data_dir) {
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto links = netlink::list_links(*hs);
  if (!links) return fail(links.error());
  const std::string mark = store::link_mark(data_dir);
  std::map<int, std::string> names;
  for (const auto& l : *links) names[l.index] = l.name;
  std::vector<LiveAttachment> out;
  for (const auto& l : *links) {
    if (l.kind != "veth") continue;
    auto key = parse_alias(l.alias, mark);
    if (!key) continue;
    LiveAttachment a;
    auto& [network, container, ifname] = *key;
    a.endpoint = {.network = network,
                  .container_id = container,
                  .ifname = ifname,
                  .host_ifname = l.name,
                  .names = {container.substr(0, 12)},
                  .extra = l.master > 0 && names.contains(l.master)
                               ? json{{"bridge", names[l.master]}}.dump()
                               : std::string("{}"),
                  .created = static_cast<int64_t>(std::time(nullptr))};
    out.push_back(std::move(a));
  }
  if (out.empty()) return out;
  // Each container end: a veth by the recorded ifname whose peer is our host end.
  for (const auto& path : netns_paths()) {
    auto ns = netns::Handle::open(path);
    if (!ns) continue;
    // The netns a host veth's peer is in, as ours numbers it: ifindexes alone repeat across
    // namespaces.
    auto nsid = netlink::netns_id(ns->fd());
    if (!nsid || *nsid < 0) continue;
    auto cs = netlink::Socket::open_in(*ns);
    if (!cs) continue;
    for (auto& a : out) {
      if (a.found_peer) continue;
      auto host = std::find_if(links->begin(), links->end(),
                               [&](const netlink::LinkInfo& l) { return l.name == a.endpoint.host_ifname; });
      if (host == links->end() || host->link <= 0 || host->link_netnsid != *nsid) continue;
      auto peer = netlink::get_link(*cs, host->link);
      if (!peer || peer->kind != "veth" || peer->link != host->index || peer->name != a.endpoint.ifname) {
        continue;
      }
      auto addrs = netlink::list_addrs(*cs, peer->index);
      if (!addrs) continue;
      for (const auto& ad : *addrs) {
        if (ad.scope == 0) a.endpoint.ips.push_back(ad.addr);  // RT_SCOPE_UNIVERSE
      }
      a.endpoint.netns = path;
      a.endpoint.mac = peer->mac.str();
      a.found_peer = true;
    }
  }
  return out;
}

struct Contents {
  std::vector<store::NetworkRecord> networks;
  std::vector<store::Lease> leases;
  std::vector<store::Endpoint> endpoints;
  std::optional<std::string> boot_id;
};

Expected<Contents> read_all(store::Store& db) {
  Contents c;
  auto ok = db.view([&](store::Txn& t) -> Expected<void> {
    auto n = t.list_networks();
    if (!n) return fail(n.error());
    auto l = t.list_leases("");
    if (!l) return fail(l.error());
    auto e = t.list_endpoints("");
    if (!e) return fail(e.error());
    auto b = t.get_meta("boot_id");
    if (b) c.boot_id = *b;
    c.networks = std::move(*n);
    c.leases = std::move(*l);
    c.endpoints = std::move(*e);
    return {};
  });
  if (!ok) return fail(ok.error());
  return c;
}

// Addresses of endpoint records that no lease of their own attachment holds.
std::vector<std::string> unleased(const Contents& c) {
  std::set<std::string> recorded_networks;
  for (const auto& n : c.networks) recorded_networks.insert(n.name);
  std::vector<std::string> out;
  for (const auto& e : c.endpoints) {
    // A network weir-ipam has no record of uses another IPAM: its leases are not ours to check.
    if (!recorded_networks.contains(e.network)) continue;
    for (const auto& ip : e.ips) {
      auto held = std::find_if(c.leases.begin(), c.leases.end(), [&](const store::Lease& l) {
        return l.network == e.network && l.address == ip.addr();
      });
      if (held == c.leases.end()) {
        out.push_back("endpoint " + e.network + "/" + e.container_id + "/" + e.ifname + " uses " +
                      ip.addr().str() + ", which no lease holds (another ADD could get it)");
      } else if (held->container_id != e.container_id || held->ifname != e.ifname) {
        out.push_back("endpoint " + e.network + "/" + e.container_id + "/" + e.ifname + " uses " +
                      ip.addr().str() + ", leased to " + held->container_id + "/" + held->ifname);
      }
    }
  }
  return out;
}

std::string folder_of(const Globals&, const StoreOptions& o) {
  return o.data_dir.empty() ? std::string(store::kDefaultDataDir) : o.data_dir;
}

// check and rebuild work on a data dir's SQLite file: not on an etcd store named by --store or
// /etc/weir/store.json (that would be the wrong store, silently).
Expected<void> on_sqlite(const Globals& g, std::string_view command) {
  auto b = backend_of(g);
  if (!b) return fail(b.error());
  if (b->etcd_backed()) return fail(sqlite_only(command, *b));
  return {};
}

int check(const Globals& g, const StoreOptions& o) {
  if (auto ok = on_sqlite(g, "store check"); !ok) return print_error(g, "store check", ok.error());
  const std::string dir = folder_of(g, o);
  const std::string path = store::database_path(dir);
  auto db = store::SqliteStore::open(path, {.create = false});
  if (!db) return print_error(g, "store check", db.error());
  std::vector<std::string> problems;
  if (auto ok = db->verify(); !ok) problems.push_back(ok.error().msg);
  auto c = read_all(*db);
  if (!c) return print_error(g, "store check", c.error());
  for (auto& p : unleased(*c)) problems.push_back(std::move(p));
  std::set<Key> recorded;
  for (const auto& e : c->endpoints) recorded.insert(key_of(e));
  auto live = live_attachments(dir);
  if (!live) return print_error(g, "store check", live.error());
  for (const auto& a : *live) {
    if (recorded.contains(key_of(a.endpoint))) continue;
    problems.push_back("host veth " + a.endpoint.host_ifname + " of " + a.endpoint.network + "/" +
                       a.endpoint.container_id + "/" + a.endpoint.ifname +
                       " carries this store's mark but has no record");
  }
  if (g.json) {
    std::cout << json{{"store", path},
                      {"ok", problems.empty()},
                      {"networks", c->networks.size()},
                      {"leases", c->leases.size()},
                      {"endpoints", c->endpoints.size()},
                      {"problems", problems}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "store " << path << ": " << c->networks.size() << " networks, " << c->leases.size()
              << " leases, " << c->endpoints.size() << " endpoints\n";
    for (const auto& p : problems) std::cout << "  problem: " << p << "\n";
    std::cout << (problems.empty() ? "ok\n"
                                   : "run `weirctl store rebuild` to rebuild the leases and records "
                                     "from the kernel's links and what the store still holds\n");
  }
  return problems.empty() ? 0 : 1;
}

// Writes everything into a new store at tmp: the old file's records, then each live attachment
// the records miss, whose addresses are leased to it (taken from a stale lease if need be: the
// kernel says who uses the address now).
struct Built {
  size_t salvaged_endpoints = 0, salvaged_leases = 0, live_endpoints = 0, live_leases = 0,
         no_peer = 0;
};

Expected<Built> build(store::Store& db, const Contents& old, const std::vector<LiveAttachment>& live) {
  Built b;
  auto ok = db.transact([&](store::Txn& t) -> Expected<void> {
    for (const auto& n : old.networks) {
      if (auto ok = t.put_network(n); !ok) return ok;
    }
    for (const auto& l : old.leases) {
      auto got = t.claim(l);
      if (!got) return fail(got.error());
      b.salvaged_leases += *got ? 1 : 0;
    }
    std::set<Key> recorded;
    for (const auto& e : old.endpoints) {
      if (auto ok = t.put_endpoint(e); !ok) return ok;
      recorded.insert(key_of(e));
      ++b.salvaged_endpoints;
    }
    std::map<std::string, std::vector<net::Cidr>> subnets;  // networks without a record
    for (const auto& a : live) {
      if (!a.found_peer) ++b.no_peer;
      const store::Endpoint& e = a.endpoint;
      const bool known = recorded.contains(key_of(e));
      if (!known) {
        if (auto ok = t.put_endpoint(e); !ok) return ok;
        ++b.live_endpoints;
      }
      for (const auto& ip : e.ips) {
        auto held = t.get_lease(e.network, ip.addr());
        if (!held) return fail(held.error());
        if (*held && (*held)->container_id == e.container_id && (*held)->ifname == e.ifname) continue;
        if (*held) {
          if (auto r = t.release_address(e.network, ip.addr()); !r) return fail(r.error());
        }
        auto got = t.claim({.network = e.network,
                            .address = ip.addr(),
                            .container_id = e.container_id,
                            .ifname = e.ifname,
                            .netns = e.netns,
                            .created = e.created});
        if (!got) return fail(got.error());
        ++b.live_leases;
        auto& s = subnets[e.network];
        if (std::find(s.begin(), s.end(), ip.network()) == s.end()) s.push_back(ip.network());
      }
    }
    // A network whose record is lost keeps the subnets its containers are on (a default-pool
    // network would otherwise pick a pool again, and other networks would not avoid this one).
    for (auto& [network, nets] : subnets) {
      auto rec = t.get_network(network);
      if (!rec) return fail(rec.error());
      if (*rec) continue;
      if (auto ok = t.put_network({.name = network,
                                   .subnets = nets,
                                   .created = static_cast<int64_t>(std::time(nullptr))});
          !ok) {
        return ok;
      }
    }
    if (old.boot_id) {
      if (auto ok = t.put_meta("boot_id", *old.boot_id); !ok) return ok;
    }
    return {};
  });
  if (!ok) return fail(ok.error());
  return b;
}

int rebuild(const Globals& g, const StoreOptions& o) {
  if (auto ok = on_sqlite(g, "store rebuild"); !ok)
    return print_error(g, "store rebuild", ok.error());
  const std::string dir = folder_of(g, o);
  const std::string path = store::database_path(dir);
  if (auto ok = store::check_data_folder(dir, true); !ok) return print_error(g, "store rebuild", ok.error());
  // What the old file still holds, if SQLite can read it with weir's tables.
  Contents old;
  std::string salvage_note = "nothing readable";
  struct stat st {};
  const bool existed = ::lstat(path.c_str(), &st) == 0;
  if (existed && S_ISREG(st.st_mode) && st.st_size > 0) {
    if (auto db = store::SqliteStore::open_unchecked(path)) {
      if (auto c = read_all(*db)) {
        old = std::move(*c);
        salvage_note = std::to_string(old.endpoints.size()) + " endpoints and " +
                       std::to_string(old.leases.size()) + " leases readable";
      } else {
        salvage_note = "unreadable: " + c.error().msg;
      }
    }
  }
  auto live = live_attachments(dir);
  if (!live) return print_error(g, "store rebuild", live.error());

  const std::string tmp = path + ".rebuild-" + std::to_string(::getpid());
  for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((tmp + suffix).c_str());
  Built built;
  {
    auto db = store::SqliteStore::open(tmp);
    if (!db) return print_error(g, "store rebuild", db.error());
    auto b = build(*db, old, *live);
    if (!b) return print_error(g, "store rebuild", b.error());
    built = *b;
    if (auto ok = db->checkpoint_now(); !ok) return print_error(g, "store rebuild", ok.error());
  }
  // The old file and SQLite's files of it go aside together; then the new one takes its name
  // in one rename (weir.db is never missing, so no ADD meanwhile starts an empty store).
  std::string aside;
  if (existed) {
    aside = path + ".broken-" + std::to_string(std::time(nullptr));
    if (::link(path.c_str(), aside.c_str()) != 0) {
      return print_error(g, "store rebuild", cni::sys_error(errno, "keep \"" + path + "\" as \"" + aside + "\"", cni::Code::kStore));
    }
    for (const char* suffix : {"-wal", "-shm", "-journal"}) {
      (void)::rename((path + suffix).c_str(), (aside + suffix).c_str());
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return print_error(g, "store rebuild", cni::sys_error(errno, "rename \"" + tmp + "\" to \"" + path + "\"", cni::Code::kStore));
  }
  for (const char* suffix : {"-wal", "-shm"}) ::unlink((tmp + suffix).c_str());

  if (g.json) {
    std::cout << json{{"store", path},
                      {"old", aside},
                      {"salvaged_endpoints", built.salvaged_endpoints},
                      {"salvaged_leases", built.salvaged_leases},
                      {"live_endpoints", built.live_endpoints},
                      {"live_leases", built.live_leases},
                      {"veths_without_netns", built.no_peer}}
                     .dump(2)
              << "\n";
    return 0;
  }
  if (!aside.empty()) std::cout << "moved the old store aside: " << aside << " (" << salvage_note << ")\n";
  std::cout << "rebuilt " << path << ": " << built.salvaged_endpoints << " endpoints and "
            << built.salvaged_leases << " leases from the old file, " << built.live_endpoints
            << " endpoints and " << built.live_leases << " leases from " << live->size()
            << " host veths with this store's mark\n";
  if (built.no_peer > 0) {
    std::cout << "  " << built.no_peer
              << " of those veths lead to no netns weirctl can see: their addresses are not "
                 "leased (DEL them, or release by hand once they are gone)\n";
  }
  std::cout << "names other than the short ids, aliases and published ports come back with the "
               "next ADD of each container; leases of other plugins (macvlan, host) only from "
               "the old file\n";
  return 0;
}

// ---- status

int sqlite_status(const Globals& g, const std::string& dir, const std::string& network) {
  const std::string path = store::database_path(dir);
  auto db = open_existing_store(dir);
  if (!db) return print_error(g, "store status", db.error());
  auto c = read_all(*db);
  if (!c) return print_error(g, "store status", c.error());
  struct stat st {};
  const int64_t size = ::stat(path.c_str(), &st) == 0 ? int64_t(st.st_size) : 0;
  size_t leases = 0, endpoints = 0;
  bool record = false;
  for (const auto& l : c->leases) leases += l.network == network ? 1 : 0;
  for (const auto& e : c->endpoints) endpoints += e.network == network ? 1 : 0;
  for (const auto& n : c->networks) record = record || n.name == network;
  if (g.json) {
    json j = {{"backend", "sqlite"},
              {"file", path},
              {"size", size},
              {"keys",
               {{"networks", c->networks.size()},
                {"leases", c->leases.size()},
                {"endpoints", c->endpoints.size()}}},
              {"ok", true}};
    if (!network.empty()) {
      j["network"] = {
          {"name", network}, {"record", record}, {"leases", leases}, {"endpoints", endpoints}};
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "store      sqlite " << path << " (" << size << " bytes)\n"
            << "records    " << c->networks.size() << " networks, " << c->leases.size()
            << " leases, " << c->endpoints.size() << " endpoints\n";
  if (!network.empty()) {
    std::cout << "network    \"" << network << "\": " << (record ? "" : "no record, ") << leases
              << " leases, " << endpoints << " endpoints\n";
  }
  return 0;
}

void print_etcd_status(const json& j) {
  auto row = [](const char* k) -> std::ostream& {
    return std::cout << std::left << std::setw(11) << k;
  };
  row("store") << "etcd, prefix " << j["prefix"].get<std::string>() << " (from "
               << j["origin"].get<std::string>() << ")\n";
  for (const auto& e : j["endpoints"]) {
    row("endpoint") << e["endpoint"].get<std::string>();
    if (!e.contains("version")) {
      std::cout << "  unreachable: " << e["error"].get<std::string>() << "\n";
      continue;
    }
    std::cout << "  " << (e["healthy"] == true ? "healthy" : "unhealthy (no leader)") << ": etcd "
              << e["version"].get<std::string>() << ", member " << e["member"].get<std::string>()
              << (e["isLeader"] == true ? " (leader)"
                                        : ", leader " + e["leader"].get<std::string>())
              << ", revision " << e["revision"] << ", db " << e["dbSize"] << " bytes\n";
  }
  if (!j.contains("keys")) return;
  const json& k = j["keys"];
  row("revision") << j["revision"] << "\n";
  row("keys") << k["total"] << " under " << j["prefix"].get<std::string>() << "/: " << k["networks"]
              << " networks, " << k["leases"] << " leases, " << k["endpoints"] << " endpoints, "
              << k["hosts"] << " hosts"
              << (j["layoutVersion"].is_string()
                      ? " (layout " + j["layoutVersion"].get<std::string>() + ")"
                      : std::string(" (no layout version: nothing written yet)"))
              << "\n";
  if (j.contains("network")) {
    const json& n = j["network"];
    row("network") << "\"" << n["name"].get<std::string>()
                   << "\": " << (n["record"] == true ? "" : "no record, ") << n["leases"]
                   << " leases, " << n["endpoints"] << " endpoints\n";
  }
  row("hosts");
  if (j["hosts"].empty()) std::cout << "none present";
  bool first = true;
  for (const auto& h : j["hosts"]) {
    std::cout << (first ? "" : ", ") << h["name"].get<std::string>();
    if (h.contains("ttl")) std::cout << " (TTL " << h["ttl"] << " s)";
    first = false;
  }
  std::cout << "\n";
  const json& self = j["thisHost"];
  row("this host") << self["name"].get<std::string>();
  if (self["registered"] != true) {
    std::cout << ": not registered (no weir-agent keeps its presence)\n";
  } else if (self.contains("lease")) {
    std::cout << ": registered, lease " << self["lease"].get<std::string>() << ", TTL "
              << self["ttl"] << " s left\n";
  } else {
    std::cout << ": registered, on no lease\n";
  }
}

int status(const Globals& g, const StoreOptions& o) {
  const NetworkRef ref = find_network(g, o.network, o.data_dir);
  auto b = backend_of(g, ref.config);
  if (!b) return print_error(g, "store status", b.error());
  if (!b->etcd_backed()) return sqlite_status(g, ref.data_dir, ref.name);
  if (auto here = where_the_store_is(g, *b); !here)
    return print_error(g, "store status", here.error());
  const EtcdStatusFn fn = etcd_status();
  if (fn == nullptr) {
    return print_error(g, "store status",
                       cni::make_error(cni::Code::kStore, "this weirctl has no etcd client"));
  }
  const json j = fn(*b, ref.name);
  if (g.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    print_etcd_status(j);
    if (j["ok"] != true) {
      std::cerr << "weirctl: store status: " << j["error"]["msg"].get<std::string>()
                << " [CNI error " << j["error"]["code"] << "]\n";
    }
  }
  return j["ok"] == true ? 0 : 1;
}

}  // namespace

void register_store(CLI::App& app, Globals& g, int& exit_code) {
  auto o = std::make_shared<StoreOptions>();
  auto* cmd = app.add_subcommand(
      "store",
      "which store weir uses and its health; check a SQLite store, or rebuild it from the "
      "kernel's links when weir refuses it");
  cmd->require_subcommand(1);
  auto* st = cmd->add_subcommand(
      "status",
      "the store of NETWORK (or of this host): SQLite's file and record counts, or etcd's "
      "endpoints and their health, revision, key counts, hosts and this host's presence lease; "
      "exit 1 when no etcd endpoint answers");
  st->add_option("network", o->network,
                 "network name, or a network config (its store, its counts)");
  st->add_option("--data-dir", o->data_dir,
                 "SQLite store folder (default: the network config's dataDir, else /var/lib/weir)");
  st->callback([&g, &exit_code, o] { exit_code = status(g, *o); });
  auto* chk = cmd->add_subcommand(
      "check",
      "the file (integrity, schema, lease index), endpoint records against leases, and host "
      "veths with this store's mark against the records; exit 1 on a problem");
  chk->add_option("--data-dir", o->data_dir, "store folder (default /var/lib/weir)");
  chk->callback([&g, &exit_code, o] { exit_code = check(g, *o); });
  auto* reb = cmd->add_subcommand(
      "rebuild",
      "move weir.db aside (weir.db.broken-<time>) and make a new one from what it still holds "
      "and from the host veths with this store's mark (their containers' addresses are leased "
      "again); run it in the host netns");
  reb->add_option("--data-dir", o->data_dir, "store folder (default /var/lib/weir)");
  reb->callback([&g, &exit_code, o] { exit_code = rebuild(g, *o); });
}

}  // namespace weir::ctl
