#include "plugins/bridge/bridge.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>

#include "lib/cni/fd.hpp"
#include "lib/cni/rollback.hpp"
#include "lib/firewall/firewall.hpp"
#include "lib/netlink/netlink.hpp"
#include "lib/netlink/sysctl.hpp"
#include "lib/store/data_dir.hpp"
#include "lib/store/paths.hpp"
#include "lib/store/sqlite.hpp"
#include "plugins/bridge/config.hpp"
#include "plugins/bridge/endpoint.hpp"
#include "plugins/bridge/ports.hpp"
#include "plugins/bridge/rules.hpp"
#include "plugins/common/collect.hpp"
#include "plugins/common/embedded_dns.hpp"
#include "plugins/common/iface.hpp"
#include "plugins/common/ipam_client.hpp"
#include "plugins/common/link_reaper.hpp"
#include "plugins/common/netns_open.hpp"
#include "plugins/common/store_open.hpp"

namespace weir::plugins::bridge {

namespace {

// Bridges weir made carry this alias, so the last DEL removes only bridges weir created.
constexpr std::string_view kBridgeAliasPrefix = "weir:";

uint64_t fnv1a64(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Stable per bridge name, locally administered, unicast.
net::Mac bridge_mac(const std::string& name) {
  const uint64_t h = fnv1a64(name);
  uint8_t b[6] = {0x02, uint8_t(h >> 32), uint8_t(h >> 24), uint8_t(h >> 16), uint8_t(h >> 8), uint8_t(h)};
  return net::Mac::from_bytes(b);
}

// ---- Where the call runs: in a plugin process, or in weir-agent (Resident), which lends its
// store, its DNS and its background deletes for the data dir it serves.

// By the folder itself, not its spelling ("/var/lib//weir", a symlink): taken for another folder,
// the agent's own would be asked for a DNS sync over its socket by the agent itself, which is
// busy with this very call.
// A data folder by device and inode ("<dev>:<ino>"), nullopt when it cannot be read.
std::optional<std::string> folder_id(const std::string& data_dir) {
  struct stat st {};
  if (::stat(store::data_folder(data_dir).c_str(), &st) != 0) return std::nullopt;
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

bool same_folder(const std::string& a, const std::string& b) {
  if (store::data_folder(a) == store::data_folder(b)) return true;
  const auto id = folder_id(a);
  return id && id == folder_id(b);
}

// The agent's lendings when it runs this call for the config's own data dir; null in a plugin
// process (or for another data dir). Decided once per call.
const Resident* resident_for(const Resident* res, const std::string& data_dir) {
  return res != nullptr && same_folder(res->data_dir, data_dir) ? res : nullptr;
}

// The network's store: the agent's, kept open, when the agent runs the call; else opened.
class StoreRef {
 public:
  explicit StoreRef(store::Store* lent) : ptr_(lent) {}
  explicit StoreRef(std::unique_ptr<store::Store> owned)
      : owned_(std::move(owned)), ptr_(owned_.get()) {}
  store::Store& operator*() const { return *ptr_; }
  store::Store* get() const { return ptr_; }

 private:
  std::unique_ptr<store::Store> owned_;
  store::Store* ptr_;
};

Expected<StoreRef> network_store(const Resident* here, const std::string& data_dir) {
  if (here != nullptr && here->store != nullptr) return StoreRef(here->store);
  auto st = open_store(data_dir);
  if (!st) return fail(st.error());
  return StoreRef(std::move(*st));
}

// The embedded DNS serves what the store holds now (sync_dns; inside the agent, in-process).
Expected<void> sync_names(const Resident* here, const std::string& data_dir, bool start) {
  if (here == nullptr) return sync_dns(data_dir, start);
  auto ok = here->sync_dns();
  if (!ok) return fail(std::move(ok.error()).context("embedded DNS"));
  return {};
}

Expected<void> delete_veth_later(const Resident* here, const std::string& data_dir, int ifindex) {
  return here != nullptr ? here->delete_link_later(ifindex) : delete_link_later(data_dir, ifindex);
}

// What the in-process IPAM borrows: the network's store, and the agent's seams.
ipam::OpenStore lent(const Resident* here, const std::string& data_dir, store::Store* st) {
  return {.data_dir = data_dir, .store = st, .seams = here != nullptr ? here->ipam_seams : nullptr};
}

struct Links {
  netlink::LinkInfo bridge;
  netlink::LinkInfo host_veth;
  netlink::LinkInfo container;
};

std::vector<net::IpAddr> gateways_of(const cni::Result& r) {
  std::vector<net::IpAddr> out;
  for (const auto& ip : r.ips) {
    if (ip.gateway) out.push_back(*ip.gateway);
  }
  return out;
}

nlohmann::json routes_json(const std::vector<netlink::RouteInfo>& routes) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : routes) {
    nlohmann::json j = {{"dst", r.dst ? r.dst->str() : (r.family == net::Family::kV4 ? "0.0.0.0/0" : "::/0")}};
    if (r.gw) j["gw"] = r.gw->str();
    out.push_back(std::move(j));
  }
  return out;
}

std::vector<net::Cidr> addresses_of(const cni::Result& r) {
  std::vector<net::Cidr> out;
  for (const auto& ip : r.ips) out.push_back(ip.address);
  return out;
}

// An endpoint record's extra, parsed (discarded when it is not JSON).
nlohmann::json extra_of(const store::Endpoint& ep) {
  return nlohmann::json::parse(ep.extra, nullptr, false);
}

std::string bridge_of(const nlohmann::json& extra) {
  if (extra.is_object() && extra.contains("bridge") && extra["bridge"].is_string()) {
    return extra["bridge"].get<std::string>();
  }
  return {};
}

// Whether ADD gave the endpoint rules of its own (published ports, the spoof check). Records
// without the fact are assumed to have some.
bool has_rules(const nlohmann::json& extra) {
  if (!extra.is_object() || !extra.contains("ports") || !extra["ports"].is_number_unsigned()) return true;
  const auto spoof = extra.find("macspoofchk");
  return extra["ports"].get<uint64_t>() > 0 || (spoof != extra.end() && *spoof == true);
}

// Whether any endpoint in the store, of any network, is attached to the bridge: several
// networks may share one bridge, and only the last of them may delete it.
Expected<bool> bridge_in_use(store::Store& st, const std::string& bridge) {
  auto all = list_endpoints(st, "");
  if (!all) return fail(all.error());
  return std::any_of(all->begin(), all->end(),
                     [&](const store::Endpoint& ep) { return bridge_of(extra_of(ep)) == bridge; });
}

// The gateway address goes on the bridge. An address of the same subnet already there is
// either the same gateway (fine), or replaced with forceAddress, or an error (reference bridge).
Expected<void> ensure_gateway(netlink::Socket& hs, const netlink::LinkInfo& br,
                              const BridgeConfig& cfg, const cni::IpConfig& ip) {
  if (!ip.gateway) return {};
  net::Cidr gw(*ip.gateway, ip.address.prefix_len());
  auto addrs = netlink::list_addrs(hs, br.index, gw.family());
  if (!addrs) return fail(addrs.error());
  bool present = false;
  for (const auto& a : *addrs) {
    if (a.addr == gw) present = true;
    if (a.addr == gw || !a.addr.network().overlaps(gw.network())) continue;
    if (!cfg.force_address) {
      return fail(cni::invalid_config("bridge \"" + cfg.bridge + "\" already has address " +
                                      a.addr.str() + ", not the gateway " + gw.str() +
                                      "; set forceAddress to replace it"));
    }
    if (auto ok = netlink::del_addr(hs, br.index, a.addr); !ok) return fail(ok.error());
  }
  return present ? Expected<void>{} : netlink::add_addr(hs, br.index, gw);
}

// Orders the removal of a network's bridge and rules against ADDs in flight: an ADD holds the
// lock shared from before it ensures the bridge until its endpoint is stored, and the
// "last endpoint gone → delete" step holds it exclusive, so it never deletes a bridge that a
// concurrent ADD is about to use (its endpoint is not in the store yet).
class BridgeLock {
 public:
  static Expected<BridgeLock> open(const std::string& data_dir) {
    // No link followed, and a failure is the store's (102), naming the file.
    auto fd = store::open_data_file(store::data_file(data_dir, "bridges.lock"), O_RDWR | O_CREAT, 0600);
    if (!fd) return fail(fd.error());
    return BridgeLock(std::move(*fd));
  }
  Expected<void> shared() { return take(LOCK_SH); }
  Expected<void> exclusive() { return take(LOCK_EX); }  // from shared: flock converts
  void release() { ::flock(fd_.get(), LOCK_UN); }

 private:
  explicit BridgeLock(UniqueFd fd) : fd_(std::move(fd)) {}
  Expected<void> take(int how) {
    while (::flock(fd_.get(), how) != 0) {
      if (errno != EINTR) return fail(cni::sys_error(errno, "lock bridges.lock", cni::Code::kIoFailure));
    }
    return {};
  }
  UniqueFd fd_;
};

Expected<netlink::LinkInfo> setup_bridge(netlink::Socket& hs, store::Store& st, BridgeLock& lock,
                                         const cni::Call& call,
                                         const BridgeConfig& cfg, const cni::Result& addrs,
                                         cni::Rollback& undo) {
  // A pinned MAC keeps the bridge's address from following its lowest port as containers
  // come and go, which would flush every neighbour's ARP entry for the gateway.
  bool created = false;
  auto br = netlink::ensure_bridge(hs, {.name = cfg.bridge, .mtu = cfg.mtu, .mac = bridge_mac(cfg.bridge)},
                                   &created);
  if (!br) return fail(br.error());
  if (created) {
    // Another ADD may have put its container on the bridge meanwhile: delete it only when
    // the store knows no endpoint on it.
    // Exclusive, as del_network_if_empty: no other ADD is between the bridge and its record.
    undo.push("delete bridge " + cfg.bridge, [&hs, &st, &lock, name = cfg.bridge]() -> Expected<void> {
      if (auto ok = lock.exclusive(); !ok) return ok;
      auto used = bridge_in_use(st, name);
      if (!used) return fail(used.error());
      return *used ? Expected<void>{} : netlink::del_link(hs, name);
    });
    std::string alias = std::string(kBridgeAliasPrefix) + call.conf.name;
    if (auto ok = netlink::set_link_alias(hs, br->index, alias); !ok) return fail(ok.error());
  }
  // A bridge someone else made keeps its MAC: one the kernel chose follows the lowest port's
  // (br_stp_recalculate_bridge_id) unless set once, which is what pins ours. Once: on the
  // network's first ADD, as the kernel announces every set (NETDEV_CHANGEADDR), and the host
  // flushes its neighbour entries on the bridge for it.
  if (!created && !br->alias.starts_with(kBridgeAliasPrefix)) {
    auto used = has_endpoints(st, call.conf.name);
    if (!used) return fail(used.error());
    if (!*used) {
      if (auto ok = netlink::set_mac(hs, br->index, br->mac); !ok) return fail(ok.error());
    }
  }
  if (cfg.promisc) {
    if (auto ok = netlink::set_promisc(hs, br->index, true); !ok) return fail(ok.error());
  }
  bool v4 = false, v6 = false;
  for (const auto& ip : addrs.ips) (ip.address.family() == net::Family::kV4 ? v4 : v6) = true;
  if (cfg.is_gateway) {
    // An IPv6 gateway under DAD stays "tentative" (and silent) for a second or more once the
    // bridge gets carrier, so containers could not reach it when ADD returns. The address is
    // ours by lease: skip DAD, as on the container side.
    if (v6) {
      auto ok = netlink::set_sysctl("net/ipv6/conf/" + cfg.bridge + "/accept_dad", "0");
      if (!ok) return fail(ok.error());
    }
    for (const auto& ip : addrs.ips) {
      if (auto ok = ensure_gateway(hs, *br, cfg, ip); !ok) return fail(ok.error());
    }
  }
  // Routing between the bridge and the world needs forwarding; published ports reached from
  // 127.0.0.1 need route_localnet on the bridge (the DNAT target is not a local address).
  // Asked by netlink first: the write under /proc/sys is needed once per host.
  auto ensure_forwarding = [&hs](net::Family f, const char* key) -> Expected<void> {
    auto on = netlink::forwarding(hs, f);
    if (!on) return fail(on.error());
    return *on ? Expected<void>{} : netlink::set_sysctl(key, "1");
  };
  if (v4 && cfg.is_gateway) {
    if (auto ok = ensure_forwarding(net::Family::kV4, "net.ipv4.ip_forward"); !ok) return fail(ok.error());
  }
  if (v6 && cfg.is_gateway) {
    if (auto ok = ensure_forwarding(net::Family::kV6, "net/ipv6/conf/all/forwarding"); !ok) {
      return fail(ok.error());
    }
  }
  // icc=false drops bridge-internal traffic in the inet forward hook, which sees bridged
  // packets only through br_netfilter.
  if (!cfg.icc) {
    for (const char* key : {"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"}) {
      if (auto ok = netlink::set_sysctl(key, "1"); !ok) {
        return fail(std::move(ok.error()).context("icc=false needs br_netfilter"));
      }
    }
  }
  if (v4 && !cfg.ports.empty()) {
    auto ok = netlink::set_sysctl("net/ipv4/conf/" + cfg.bridge + "/route_localnet", "1");
    if (!ok) return fail(ok.error());
  }
  return br;
}

// Host veths carry an alias that names their store: "weir-port:<store>:" then the attachment
// ("<network>/<container id>/<ifname>", for people), <store> being 16 hex digits of a hash of
// the data dir's device and inode (every spelling of the folder gives the same). A veth on our
// bridge that no record names is a leftover of ours only with our store's mark, or with none
// at all (made before the mark): another data dir's veth on a shared bridge is never ours.
std::string store_mark(const std::string& data_dir) {
  return store::link_mark(data_dir);
}

std::string port_alias(const std::string& mark, const cni::Call& call) {
  std::string alias = mark + call.conf.name + "/" + call.env.container_id + "/" + call.env.ifname;
  if (alias.size() > 255) alias.resize(255);  // IFALIASZ, with its NUL
  return alias;
}

bool carries_mark(const netlink::LinkInfo& link, const std::string& mark) {
  return link.kind == "veth" && link.alias.starts_with(mark);
}

bool marked_ours(const netlink::LinkInfo& link, const std::string& mark) {
  return link.alias.empty() || link.alias.starts_with(mark);
}

// Whether a link of this name is one an endpoint of the store has as its host veth.
Expected<bool> recorded_host_link(store::Store& st, const std::string& name) {
  auto all = list_endpoints(st, "");  // only on a name clash: rare, so a full list will do
  if (!all) return fail(all.error());
  return std::any_of(all->begin(), all->end(),
                     [&](const store::Endpoint& ep) { return ep.host_ifname == name; });
}

// A veth by this attachment's name that is an old one of ours. This attachment's own (its
// alias, `own`, names it, and it has no record: cmd_add checked) — the previous DEL's, which the
// kernel may still be deleting in the background (link_reaper.hpp), or one a crash left;
// wherever it is now (after the network's last DEL it is on no bridge). Or a veth on our bridge
// with our store's mark, or none (made before the mark), that no record names. Anything else by
// that name (another network's, a 32-bit hash collision with a live container) is not touched.
Expected<bool> is_leftover(store::Store& st, const std::string& mark, const std::string& own,
                           const netlink::LinkInfo& link, const netlink::LinkInfo& br) {
  if (link.kind != "veth") return false;
  if (link.alias == own) return true;
  if (link.master != br.index || !marked_ours(link, mark)) return false;
  auto recorded = recorded_host_link(st, link.name);
  if (!recorded) return fail(recorded.error());
  return !*recorded;
}

// Who holds a name create_veth found taken. A leftover of ours: the host end to delete, which
// takes its peer with it. Typically the previous attachment's veth, which its DEL left to the
// kernel to delete in the background (link_reaper.hpp) and which may still hold the names when
// the next ADD comes (a disconnect and a connect; a runtime that reuses the netns). Nobody any
// more: that delete just ended. Anything else is not ours to touch.
struct NameHolder {
  enum { kLeftover, kGone, kOther } what;
  int index = 0;  // kLeftover: the host end
};

Expected<NameHolder> name_holder(store::Store& st, const std::string& mark, netlink::Socket& hs,
                                 netlink::Socket& cs, const netlink::VethSpec& spec,
                                 const netlink::LinkInfo& br) {
  const std::string& host_name = spec.host_name;
  const std::string& ifname = spec.peer_name;
  auto ours = [&](const netlink::LinkInfo& host_end) -> Expected<NameHolder> {
    auto leftover = is_leftover(st, mark, spec.host_alias, host_end, br);
    if (!leftover) return fail(leftover.error());
    if (!*leftover) return NameHolder{NameHolder::kOther};
    return NameHolder{NameHolder::kLeftover, host_end.index};
  };
  auto gone = [](const cni::Error& e) -> Expected<NameHolder> {
    if (e.sys_errno == ENODEV) return NameHolder{NameHolder::kGone};
    return fail(e);
  };
  auto host = netlink::get_link(hs, host_name);
  if (host) return ours(*host);
  if (host.error().sys_errno != ENODEV) return fail(host.error());
  // The host name is free: the container's end is what is taken.
  auto in_container = netlink::get_link(cs, ifname);
  if (!in_container) return gone(in_container.error());
  if (in_container->kind != "veth" || in_container->link <= 0) return NameHolder{NameHolder::kOther};
  // Its peer's index is in the peer's netns, which need not be ours: the host link by that
  // index counts only if it is one of our veths and points back at the container's link.
  auto peer = netlink::get_link(hs, in_container->link);
  if (!peer) return gone(peer.error());
  if (peer->link != in_container->index || !netlink::is_veth_name(peer->name)) {
    return NameHolder{NameHolder::kOther};
  }
  return ours(*peer);
}

// The container's end: created directly in its netns under its final name, then addressed.
Expected<netlink::VethPair> setup_veth(netlink::Socket& hs, netlink::Socket& cs, store::Store& st,
                                       const netns::Handle& ns, const cni::Call& call,
                                       const BridgeConfig& cfg, const netlink::LinkInfo& br,
                                       cni::Rollback& undo) {
  const std::string host_name = netlink::veth_name(call.env.container_id, call.env.ifname);
  const std::string mark = store_mark(cfg.data_dir);
  const netlink::VethSpec spec{.host_name = host_name,
                               .peer_name = call.env.ifname,
                               .peer_netns = &ns,
                               .mtu = cfg.mtu,
                               .peer_mac = cfg.mac,
                               .host_master = br.index,
                               .queues = cfg.veth_queues,
                               .host_without_ipv6_lladdr = true,
                               .host_alias = port_alias(mark, call)};
  // A taken name is most often the previous attachment's, whose DEL left the pair to a
  // background delete that has not finished (a quick disconnect and connect): name_holder
  // knows it by its alias, and it is deleted now.
  auto pair = netlink::create_veth(hs, spec);
  for (int attempt = 0; attempt < 2 && !pair && pair.error().sys_errno == EEXIST; ++attempt) {
    auto holder = name_holder(st, mark, hs, cs, spec, br);
    if (!holder) return fail(holder.error());
    if (holder->what == NameHolder::kOther) break;
    if (holder->what == NameHolder::kLeftover) {
      if (auto ok = netlink::del_link(hs, holder->index); !ok) return fail(ok.error());
    }
    pair = netlink::create_veth(hs, spec);
  }
  if (!pair) return fail(pair.error());
  // Deleting the host end removes the pair, wherever the peer is. By index: a link that took
  // the name meanwhile is not ours.
  undo.push("delete veth " + host_name, [&hs, index = pair->host.index] { return netlink::del_link(hs, index); });
  // Created up and on the bridge. Hairpin lets a container reach its own published port
  // through the host's address.
  if (cfg.hairpin || !cfg.ports.empty()) {
    if (auto ok = netlink::set_bridge_port_hairpin(hs, pair->host.index, true); !ok) return fail(ok.error());
  }
  return pair;
}

cni::Result make_result(const cni::Call& call, const BridgeConfig& cfg, const Links& links,
                        cni::Result addrs, std::vector<cni::Route> routes) {
  cni::Result r;
  r.interfaces.push_back({.name = links.bridge.name, .mac = links.bridge.mac.str()});
  r.interfaces.push_back({.name = links.host_veth.name, .mac = links.host_veth.mac.str()});
  r.interfaces.push_back({.name = call.env.ifname,
                          .mac = links.container.mac.str(),
                          .mtu = cfg.mtu ? std::optional<uint32_t>(cfg.mtu) : std::nullopt,
                          .sandbox = call.env.netns});
  r.routes = std::move(routes);
  for (auto& ip : addrs.ips) {
    ip.interface = 2;
    r.ips.push_back(ip);
  }
  r.dns = call.conf.dns.empty() ? addrs.dns : call.conf.dns;
  return r;
}

Expected<void> del_network_if_empty(store::Store& st, netlink::Socket& hs, BridgeLock& lock,
                                    const std::string& network, const std::string& bridge) {
  if (auto ok = lock.exclusive(); !ok) return ok;
  auto left = has_endpoints(st, network);
  if (!left) return fail(left.error());
  if (*left) return {};
  if (auto ok = firewall::del_network(network); !ok) return ok;
  if (auto removed = firewall::del_table_if_unused(); !removed) return fail(removed.error());
  auto br = netlink::get_link(hs, bridge);
  if (!br) return {};
  if (br->alias != std::string(kBridgeAliasPrefix) + network) return {};
  auto used = bridge_in_use(st, bridge);
  if (!used) return fail(used.error());
  return *used ? Expected<void>{} : netlink::del_link(hs, bridge);
}

Expected<void> remove_endpoint(store::Store& st, netlink::Socket& hs, const cni::Call& call,
                               const std::optional<store::Endpoint>& ep, const std::string& bridge,
                               const std::string& data_dir, const Resident* here);

Expected<cni::Result> cmd_add(const cni::Call& call, const Resident* res) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  if (auto ok = ipam_precheck(call); !ok) return fail(ok.error());
  const Resident* here = resident_for(res, cfg->data_dir);
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto cs = netlink::Socket::open_in(*ns);
  if (!cs) return fail(cs.error());
  auto store = network_store(here, cfg->data_dir);
  if (!store) return fail(store.error());

  // A second ADD of a live attachment must not touch it: IPAM would hand back the same lease,
  // and this ADD's rollback would release it under the running container. One whose netns is
  // gone is stale (its runtime died before DEL): removed as DEL would, before the bridge lock,
  // which that DEL takes exclusively.
  auto existing = load_endpoint(**store, call);
  if (!existing) return fail(existing.error());
  auto alive = *existing ? attachment_alive(**existing) : Expected<bool>(false);
  if (!alive) return fail(alive.error());
  if (*alive) {
    return fail(cni::invalid_env("container \"" + call.env.container_id + "\" already has \"" +
                                 call.env.ifname + "\" on network \"" + call.conf.name +
                                 "\" in netns \"" + (*existing)->netns +
                                 "\" (CNI_CONTAINERID, CNI_IFNAME): DEL it first"));
  }
  if (*existing) {
    if (auto ok = remove_endpoint(**store, *hs, call, *existing, cfg->bridge, cfg->data_dir, here); !ok) {
      return fail(std::move(ok.error())
                      .context("remove the stale attachment of container \"" +
                               call.env.container_id + "\" (netns \"" + (*existing)->netns +
                               "\" is gone)"));
    }
  }
  auto lock = BridgeLock::open(cfg->data_dir);
  if (!lock) return fail(lock.error());
  if (auto ok = lock->shared(); !ok) return fail(ok.error());

  // Refused early, before anything is made; checked again when the record is written.
  if (!cfg->ports.empty()) {
    auto free = (**store).view([&](store::Txn& t) { return check_ports_free(t, cfg->ports); });
    if (!free) return fail(free.error());
  }

  cni::Rollback undo(&call.process->err());
  auto leased = ipam_add_undoable(call, lent(here, cfg->data_dir, store->get()), undo);
  if (!leased) return fail(leased.error());
  cni::Result addrs = std::move(*leased);
  if (addrs.ips.empty()) cfg->ports.clear();  // an IPAM that gave none: nothing to publish to
  for (auto& ip : addrs.ips) {
    if (!ip.gateway) ip.gateway = ip.address.network().first().next();
  }
  auto br = setup_bridge(*hs, **store, *lock, call, *cfg, addrs, undo);
  if (!br) return fail(br.error());
  auto pair = setup_veth(*hs, *cs, **store, *ns, call, *cfg, *br, undo);
  if (!pair) return fail(pair.error());
  // With isDefaultGateway, a default route via the gateway of each family IPAM gave none for
  // (the reference plugin's calcGateways); never on an internal network.
  auto container_routes =
      configure_iface(*cs,
                      {.netns = &*ns,
                       .ifname = call.env.ifname,
                       .ifindex = pair->peer_index,
                       .default_route = cfg->is_default_gateway && !cfg->internal},
                      addrs);
  if (!container_routes) {
    return fail(std::move(container_routes.error())
                    .context("configure \"" + call.env.ifname + "\" in the container"));
  }

  // An endpoint without published ports or spoof check has no rules of its own (a new
  // attachment, so none are left over): one nftables round trip less per ADD, and per DEL (see
  // has_rules). The spoof check needs no address: an L2-only network has it too.
  const bool own_rules = has_endpoint_rules(*cfg, addresses_of(addrs));
  if (!addrs.ips.empty() || own_rules) {
    if (!addrs.ips.empty()) {
      auto ok = firewall::ensure_network(network_rules(call.conf.name, *cfg, addresses_of(addrs)));
      if (!ok) return fail(ok.error());
    }
    undo.push("remove the network's rules if it has no endpoint", [&] {
      return del_network_if_empty(**store, *hs, *lock, call.conf.name, cfg->bridge);
    });
    if (own_rules) {
      undo.push("remove firewall rules", [&] {
        return firewall::del_endpoint(call.conf.name, call.env.container_id, call.env.ifname);
      });
      const firewall::SpoofCheck port{.host_ifname = pair->host.name, .mac = pair->peer_mac};
      if (auto ok = firewall::ensure_endpoint(endpoint_rules(call, *cfg, addresses_of(addrs), port)); !ok) {
        return fail(ok.error());
      }
    }
  }

  Links links{.bridge = *br, .host_veth = pair->host};
  links.container.mac = pair->peer_mac;
  std::vector<netlink::RouteInfo> routes;
  for (const auto& rt : *container_routes) routes.push_back(kernel_route(rt, addrs.ips, 0));
  auto result = make_result(call, *cfg, links, std::move(addrs), std::move(*container_routes));
  EndpointInfo info{.mac = result.interfaces.back().mac,
                    .host_ifname = pair->host.name,
                    .ips = addresses_of(result),
                    .aliases = cfg->aliases,
                    .extra = {{"bridge", cfg->bridge},
                              {"routes", routes_json(routes)},
                              {"ports", cfg->ports.size()}}};
  if (cfg->macspoofchk) info.extra["macspoofchk"] = true;  // DEL: the endpoint has rules
  // Which namespace this is, for a later ADD of the same attachment (attachment_alive); kernels
  // before 5.14 have no cookie, and their records go by the path alone.
  if (auto cookie = netlink::netns_cookie(*cs)) info.extra[kNetnsCookie] = *cookie;
  if (!cfg->ports.empty()) {
    info.extra["portMappings"] = ports_json(cfg->ports);
    info.admit = [&](store::Txn& t) { return check_ports_free(t, cfg->ports); };
  }
  std::vector<net::IpAddr> resolvers = gateways_of(result);
  if (cfg->embedded_dns) {
    mark_dns_endpoint(info.extra, {.listen = resolvers,
                                   .servers = cfg->dns_servers,
                                   .internal = cfg->internal});
  }
  if (auto ok = save_endpoint(**store, call, info); !ok) return fail(ok.error());
  // The endpoint is stored: a DEL of the network's last other endpoint now sees it. Let go
  // before the DNS sync, which waits for weir-agent — which may be running that DEL, waiting
  // for this lock. (A rollback takes it again, exclusive, to remove what is unused.)
  lock->release();
  if (cfg->embedded_dns) {
    undo.push("forget the endpoint", [&] {
      auto ok = forget_endpoint(**store, call.conf.name, call.env.container_id, call.env.ifname);
      return ok ? sync_names(here, cfg->data_dir, false) : ok;
    });
    // The name resolves when ADD returns: the agent has acknowledged the new records.
    if (auto ok = sync_names(here, cfg->data_dir, true); !ok) return fail(ok.error());
    result.dns = dns_for(call.conf.name, resolvers, result.dns);
  }
  undo.commit();
  return result;
}

// The attachment's host veth, if there is one. Without a record (a DEL after a crash half-way
// through ADD, or a retry of a DEL that failed after forgetting it) a veth by its name counts
// only if it is a leftover of ours (is_leftover): the name hashes only the container id and
// ifname.
Expected<std::optional<netlink::LinkInfo>> attachment_veth(store::Store& st, netlink::Socket& hs,
                                                           const cni::Call& call,
                                                           const std::optional<store::Endpoint>& ep,
                                                           const std::string& bridge,
                                                           const std::string& data_dir) {
  using Found = std::optional<netlink::LinkInfo>;
  const std::string name = ep ? ep->host_ifname : netlink::veth_name(call.env.container_id, call.env.ifname);
  auto veth = netlink::get_link(hs, name);
  if (!veth) {
    if (veth.error().sys_errno == ENODEV) return Found();
    return fail(veth.error());
  }
  // A record names a link to delete only if the link is one of our veths, with this store's
  // mark: a record planted in the store must not make root delete any host link it names.
  if (ep) return carries_mark(*veth, store_mark(data_dir)) ? Found(std::move(*veth)) : Found();
  auto br = netlink::get_link(hs, bridge);
  if (!br) {
    if (br.error().sys_errno == ENODEV) return Found();  // no bridge, no port of ours
    return fail(br.error());
  }
  const std::string mark = store_mark(data_dir);
  auto leftover = is_leftover(st, mark, port_alias(mark, call), *veth, *br);
  if (!leftover) return fail(leftover.error());
  return *leftover ? Found(std::move(*veth)) : Found();
}

// DEL walks the stored endpoint, not the caller's memory: no prevResult, no netns needed.
// The store is written first: a DEL that cannot write it (disk full, read-only) fails with the
// veth, the rules, the lease and the record all in place, and the runtime's retry finds them
// all. Once the record is gone, a retry still finds what is left in the kernel without it: the
// veth by its name and alias (attachment_veth), the endpoint's rules by the attachment, the
// network's by the endpoints left in the store. The record goes before the lease, so an
// address is never free while a record says a container has it.
Expected<void> remove_endpoint(store::Store& st, netlink::Socket& hs, const cni::Call& call,
                               const std::optional<store::Endpoint>& ep, const std::string& bridge,
                               const std::string& data_dir, const Resident* here) {
  auto veth = attachment_veth(st, hs, call, ep, bridge, data_dir);
  if (!veth) return fail(veth.error());
  // Down at once, so no traffic passes from here on, nor meets a new container that leases the
  // address; up again if the store cannot be written.
  const bool was_up = *veth && (*veth)->up;
  if (was_up) {
    if (auto ok = netlink::set_link_up(hs, (*veth)->index, false); !ok && ok.error().sys_errno != ENODEV) return ok;
  }
  auto stored = forget_endpoint(st, call.conf.name, call.env.container_id, call.env.ifname);
  if (stored) stored = ipam_del(call, lent(here, data_dir, &st));
  if (!stored) {
    if (was_up) (void)netlink::set_link_up(hs, (*veth)->index, true);
    return stored;
  }
  // The kernel's part of deleting the veth (and its peer) is left to a child process.
  if (*veth) {
    if (auto ok = delete_veth_later(here, data_dir, (*veth)->index); !ok) return ok;
  }
  // Parsed once: what DEL reads of the record.
  const nlohmann::json extra = ep ? extra_of(*ep) : nlohmann::json();
  if (!ep || has_rules(extra)) {
    if (auto ok = firewall::del_endpoint(call.conf.name, call.env.container_id, call.env.ifname); !ok) return ok;
  }
  if (ep && dns_endpoint(extra)) {
    if (auto ok = sync_names(here, data_dir, false); !ok) return ok;
  }
  std::string recorded = ep ? bridge_of(extra) : std::string();
  auto lock = BridgeLock::open(data_dir);
  if (!lock) return fail(lock.error());
  return del_network_if_empty(st, hs, *lock, call.conf.name, recorded.empty() ? bridge : recorded);
}

Expected<void> cmd_del(const cni::Call& call, const Resident* res) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  const Resident* here = resident_for(res, cfg->data_dir);
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto store = network_store(here, cfg->data_dir);
  if (!store) return fail(store.error());
  auto ep = load_endpoint(**store, call);
  if (!ep) return fail(ep.error());
  return remove_endpoint(**store, *hs, call, *ep, cfg->bridge, cfg->data_dir, here);
}

// CHECK and GC run in a plugin process only (weir-agent runs ADD and DEL).
Expected<void> cmd_check(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  auto store = open_store(cfg->data_dir);
  if (!store) return fail(store.error());
  auto ep = require_endpoint(**store, call);
  if (!ep) return fail(ep.error());
  if (auto ok = check_endpoint(call, *cfg, *ep, *ns); !ok) return ok;
  return ipam_check(call, {cfg->data_dir, store->get()});
}

Expected<void> cmd_status(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  return ipam_status(call);
}

// Ports of the network's own bridge that look like weir's veths but that no record knows: a
// crash left one between the kernel and the store, or a background delete failed
// (link_reaper.hpp). Under the exclusive lock, so no ADD is between its veth and its record.
Expected<void> sweep_unrecorded_ports(store::Store& st, netlink::Socket& hs, BridgeLock& lock,
                                      const std::string& network, const std::string& bridge,
                                      const std::string& data_dir) {
  auto br = netlink::get_link(hs, bridge);
  if (!br || br->alias != std::string(kBridgeAliasPrefix) + network) return {};
  if (auto ok = lock.exclusive(); !ok) return ok;
  auto links = netlink::list_links(hs);
  if (!links) return fail(links.error());
  const std::string mark = store_mark(data_dir);
  std::vector<netlink::LinkInfo> suspects;
  for (auto& l : *links) {
    if (l.kind == "veth" && l.master == br->index && netlink::is_veth_name(l.name) && marked_ours(l, mark)) {
      suspects.push_back(std::move(l));
    }
  }
  if (suspects.empty()) return {};
  auto all = list_endpoints(st, "");
  if (!all) return fail(all.error());
  for (const auto& l : suspects) {
    const bool recorded = std::any_of(all->begin(), all->end(),
                                      [&](const store::Endpoint& ep) { return ep.host_ifname == l.name; });
    if (recorded) continue;
    if (auto ok = netlink::del_link(hs, l.index); !ok) return ok;
  }
  return {};
}

Expected<void> cmd_gc(const cni::Call& call, const std::vector<cni::Attachment>& valid) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto store = open_store(cfg->data_dir);
  if (!store) return fail(store.error());
  const std::string mark = store_mark(cfg->data_dir);
  auto collected = collect_endpoints(**store, call, valid, cfg->data_dir, [&](const store::Endpoint& ep) -> Expected<void> {
    // Only our veth with this store's mark (see attachment_veth), whatever the record names.
    auto veth = netlink::get_link(*hs, ep.host_ifname);
    if (!veth && veth.error().sys_errno != ENODEV) return fail(veth.error());
    if (veth && carries_mark(*veth, mark)) {
      if (auto ok = netlink::del_link(*hs, veth->index); !ok) return ok;
    }
    return firewall::del_endpoint(ep.network, ep.container_id, ep.ifname);
  });
  if (!collected) return collected;
  if (auto ok = ipam_gc(call, valid, {cfg->data_dir, store->get()}); !ok) return ok;
  auto lock = BridgeLock::open(cfg->data_dir);
  if (!lock) return fail(lock.error());
  if (auto ok = sweep_unrecorded_ports(**store, *hs, *lock, call.conf.name, cfg->bridge, cfg->data_dir); !ok) {
    return ok;
  }
  return del_network_if_empty(**store, *hs, *lock, call.conf.name, cfg->bridge);
}

}  // namespace

cni::Verbs verbs(const Resident* res) {
  return {
      .add = [res](const cni::Call& call) { return cmd_add(call, res); },
      .del = [res](const cni::Call& call) { return cmd_del(call, res); },
      .check = cmd_check,
      .status = cmd_status,
      .gc = cmd_gc};
}

}  // namespace weir::plugins::bridge
