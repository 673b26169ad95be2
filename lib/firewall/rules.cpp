// The ruleset: one traffic model (README "Traffic model"), Docker's bridge driver in nftables
// terms. What may enter a network's bridge B from another interface: replies, published ports
// (DNATed), new connections from the host interfaces B trusts (trustedHostInterfaces) and, when
// B has isolation "none", from the other "none" networks. Nothing else: not the LAN routing to a
// container address (Docker >= 28), not other bridges.
// Within B (icc) and from the host itself (output, never the forward hook) traffic passes.
//
//   raw-prerouting (filter, priority -300)   per network
//     iifname B ip daddr 127.0.0.0/8 drop    B has route_localnet (for published ports reached
//                                            from the host's 127.0.0.1), which makes the
//                                            host's loopback-only services routable from B
//   forward (filter, policy accept)   per network: drops at the head, then per network its
//                                     accepts and its final drop at the tail, every tail rule
//                                     of B matching `oifname B`, so that no network's accept
//                                     can pre-empt another's drop
//     iifname B oifname != B ct status ! dnat jump isolation   isolation strict
//     iifname B oifname != B drop                               internal (both directions)
//     oifname B iifname != B drop
//     iifname B oifname B drop                                  icc=false (via br_netfilter)
//     ...
//     oifname B ct state established,related accept             replies
//     oifname B ct status dnat accept                           published ports
//     oifname B iifname B accept                                the same network
//     oifname B iifname T accept                                trustedHostInterfaces T
//     oifname B jump open                                       isolation none
//     oifname B drop                                            anything else (outside, other
//                                                               bridges, other networks)
//   isolation                         oifname B drop, for every network (strict leaves for none)
//   open                              iifname B accept, per network with isolation none
//   nat-prerouting / nat-output       per endpoint: published ports, DNAT; a host address in
//                                     127.0.0.0/8 (or ::1) in nat-output only: from the host
//   nat-postrouting                   per network: masquerade, hairpin, 127.0.0.0/8 sources
//
// An accept only ends this table's chain: a drop in another table's base chain (a host forward
// policy of drop) still drops, and nothing here can change that.
//
// macspoofchk, the reference bridge plugin's, in a table of the bridge family:
//
//   table bridge weir
//   prerouting (filter, priority -300)  per endpoint with the check, V its host veth, M the
//     iifname V ether saddr != M drop    container's MAC
//
// Why there: frames from one port of a bridge to another never reach the inet hooks (only
// through br_netfilter, which weir does not need for this), while the bridge's prerouting hook
// sees every frame that enters the bridge through a port, whatever its ethertype (ARP as well
// as IPv4 and IPv6) and wherever it is going (another port, or up to the host), before the
// bridge learns its source into the FDB. A netdev ingress chain on the veth would see the same
// frames, but as one base chain per device whose fate when the device goes differs between
// kernels; one shared chain holds a rule per port, tagged like the endpoint's other rules, so
// that del_endpoint, check_endpoint and GC find it the same way, with or without the veth.
// Priority -300, as the reference plugin: before any other bridge-family filter.
#include "lib/firewall/rules.hpp"

#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace weir::firewall::detail {
namespace {

using nft::RuleBuilder;
using nft::Where;

// NFT_USERDATA_MAXLEN (256) holds one comment TLV: 2 bytes of header and the NUL.
constexpr size_t kMaxTag = 250;

using cni::quoted;

Expected<void> check_name(std::string_view kind, std::string_view name) {
  if (name.empty()) return fail(cni::invalid_config("firewall: empty " + std::string(kind)));
  for (char c : name) {
    // ':' separates the parts of a tag; control characters have no business in a comment.
    if (c == ':' || std::iscntrl(static_cast<unsigned char>(c))) {
      return fail(cni::invalid_config("firewall: invalid " + std::string(kind) + " " +
                                      quoted(name) + ": must not contain ':'"));
    }
  }
  return {};
}

// An interface name as the kernel takes it (dev_valid_name), and without ':'.
Expected<void> check_ifname(std::string_view kind, std::string_view name) {
  bool ok = !name.empty() && name.size() < IFNAMSIZ && name != "." && name != "..";
  for (char c : name) {
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c))) ok = false;
  }
  if (!ok) {
    return fail(cni::invalid_config("firewall: invalid " + std::string(kind) + " " + quoted(name)));
  }
  return {};
}

Expected<void> check_bridge(std::string_view bridge) {
  return check_ifname("bridge name", bridge);
}

Expected<void> check_tag(const std::string& tag) {
  if (tag.size() > kMaxTag) {
    return fail(cni::invalid_config("firewall: names too long for a rule tag: " + quoted(tag)));
  }
  return {};
}

struct Proto {
  uint8_t number;
  std::string_view name;
};

std::optional<Proto> proto_of(std::string_view name) {
  if (name == "tcp") return Proto{IPPROTO_TCP, "tcp"};
  if (name == "udp") return Proto{IPPROTO_UDP, "udp"};
  if (name == "sctp") return Proto{IPPROTO_SCTP, "sctp"};
  return std::nullopt;
}

net::Cidr multicast(net::Family family) {
  return *net::Cidr::parse(family == net::Family::kV4 ? "224.0.0.0/4" : "ff00::/8");
}

const net::Cidr& loopback4() {
  static const net::Cidr k = *net::Cidr::parse("127.0.0.0/8");
  return k;
}

bool is_loopback(const net::IpAddr& a) {
  static const net::Cidr k6 = *net::Cidr::parse("::1/128");
  return a.is_v4() ? loopback4().contains(a) : k6.contains(a);
}

}  // namespace

const std::vector<nft::ChainDef>& chains() {
  static const std::vector<nft::ChainDef> kChains = {
      {.name = kIsolation},
      {.name = kOpen},
      {.name = kRawPrerouting, .hook = nft::Hook::kPrerouting, .nat = false, .priority = -300},
      {.name = kForward, .hook = nft::Hook::kForward, .nat = false, .priority = 0},  // filter
      {.name = kPrerouting, .hook = nft::Hook::kPrerouting, .nat = true, .priority = -100},
      {.name = kOutput, .hook = nft::Hook::kOutput, .nat = true, .priority = -100},  // dstnat
      {.name = kPostrouting, .hook = nft::Hook::kPostrouting, .nat = true, .priority = 100},
      {.name = kSpoofCheck,
       .hook = nft::Hook::kPrerouting,
       .nat = false,
       .priority = -300,
       .table = nft::Table::kBridge},
  };
  return kChains;
}

namespace {
constexpr nft::ChainRef inet(std::string_view chain) {
  return {.table = nft::Table::kInet, .name = chain};
}
constexpr nft::ChainRef kSpoofCheckChain{.table = nft::Table::kBridge, .name = kSpoofCheck};
}  // namespace

const std::vector<nft::ChainRef>& network_chains() {
  static const std::vector<nft::ChainRef> kChains = {
      inet(kForward),    inet(kIsolation), inet(kOpen),        inet(kRawPrerouting),
      inet(kPrerouting), inet(kOutput),    inet(kPostrouting)};
  return kChains;
}

const std::vector<nft::ChainRef>& endpoint_chains() {
  static const std::vector<nft::ChainRef> kChains = {inet(kPrerouting), inet(kOutput),
                                                     kSpoofCheckChain};
  return kChains;
}

const std::vector<nft::ChainRef>& all_chains() {
  static const std::vector<nft::ChainRef> kChains = [] {
    std::vector<nft::ChainRef> all = network_chains();
    all.push_back(kSpoofCheckChain);
    return all;
  }();
  return kChains;
}

std::string network_tag(std::string_view network) {
  return "weir:" + std::string(network);
}

std::string endpoint_tag(std::string_view network, std::string_view container_id,
                         std::string_view ifname) {
  return network_tag(network) + ":" + std::string(container_id) + ":" + std::string(ifname);
}

bool owned_by_network(std::string_view tag, std::string_view network) {
  const std::string own = network_tag(network);
  return tag == own || (tag.starts_with(own) && tag.size() > own.size() && tag[own.size()] == ':');
}

std::optional<std::string> network_of(std::string_view tag) {
  constexpr std::string_view kPrefix = "weir:";
  if (!tag.starts_with(kPrefix) || tag.size() == kPrefix.size()) return std::nullopt;
  tag.remove_prefix(kPrefix.size());
  return std::string(tag.substr(0, tag.find(':')));
}

Expected<void> validate_network_name(std::string_view network) {
  if (auto ok = check_name("network name", network); !ok) return ok;
  return check_tag(network_tag(network));
}

Expected<void> validate_key(std::string_view network, std::string_view container_id,
                            std::string_view ifname) {
  if (auto ok = validate_network_name(network); !ok) return ok;
  if (auto ok = check_name("container id", container_id); !ok) return ok;
  if (auto ok = check_name("interface name", ifname); !ok) return ok;
  return check_tag(endpoint_tag(network, container_id, ifname));
}

Expected<void> validate(const NetworkRules& r) {
  if (auto ok = validate_network_name(r.network); !ok) return ok;
  for (const auto& name : r.trusted_interfaces) {
    if (auto ok = check_ifname("trusted interface name", name); !ok) return ok;
  }
  return check_bridge(r.bridge);
}

Expected<void> validate(const EndpointRules& r) {
  if (auto ok = validate_key(r.network, r.container_id, r.ifname); !ok) return ok;
  if (auto ok = check_bridge(r.bridge); !ok) return ok;
  for (const auto& p : r.ports) {
    if (!proto_of(p.protocol)) {
      return fail(
          cni::invalid_config("firewall: unsupported port mapping protocol " + quoted(p.protocol)));
    }
    if (p.host_port == 0 || p.container_port == 0) {
      return fail(cni::invalid_config("firewall: port mapping with port 0"));
    }
  }
  if (r.spoof_check) {
    if (auto ok = check_ifname("host interface name", r.spoof_check->host_ifname); !ok) return ok;
    if (r.spoof_check->mac.is_zero() || (r.spoof_check->mac.data()[0] & 1) != 0) {
      return fail(
          cni::invalid_config("firewall: spoof check for a MAC that is no unicast address: " +
                              r.spoof_check->mac.str()));
    }
  }
  return {};
}

std::vector<nft::Rule> network_rules(const NetworkRules& r) {
  const std::string tag = network_tag(r.network);
  const std::string& br = r.bridge;
  std::vector<nft::Rule> out;

  // route_localnet on B (set for published ports) lets the routing accept 127.0.0.0/8 from B:
  // a container could reach the host's loopback-only services (kube-proxy's CVE-2020-8558).
  // Before conntrack and NAT (raw priority): the replies to the host's own 127.0.0.1
  // connections into B, which the masquerade below sends from B's gateway address, carry that
  // address here, not a loopback one. IPv6 needs nothing: the kernel drops ::1 from any device
  // but lo (ip6_rcv_core).
  out.push_back(RuleBuilder(kRawPrerouting)
                    .iifname(br)
                    .nfproto(net::Family::kV4)
                    .daddr(loopback4())
                    .drop()
                    .build(tag, Where::kTail));

  // Drops, at the head of forward.
  if (r.isolate) {
    // Two stages as in Docker: leaving a strict bridge for another interface, then that
    // interface being any weir bridge, without a rule per pair of networks. DNATed connections
    // are exempt: a published port is for everyone, as Docker's proxy makes it.
    out.push_back(RuleBuilder(kForward)
                      .iifname(br)
                      .oifname(br, false)
                      .ct_dnat(false)
                      .jump(kIsolation)
                      .build(tag, Where::kHead));
  }
  // Every network is a bridge a strict one must not reach, "none" ones included.
  out.push_back(RuleBuilder(kIsolation).oifname(br).drop().build(tag, Where::kTail));
  if (r.internal) {
    out.push_back(
        RuleBuilder(kForward).iifname(br).oifname(br, false).drop().build(tag, Where::kHead));
    out.push_back(
        RuleBuilder(kForward).oifname(br).iifname(br, false).drop().build(tag, Where::kHead));
  }
  if (!r.icc) {
    out.push_back(RuleBuilder(kForward).iifname(br).oifname(br).drop().build(tag, Where::kHead));
  }
  if (r.internal) return out;

  // What may enter B, at the tail of forward, each rule `oifname B` so that other networks'
  // rules there do not interleave with these: replies, new connections to published ports,
  // the network's own traffic (routed through the gateway, or bridged with br_netfilter),
  // the other "none" networks when B is one, and nothing else.
  out.push_back(
      RuleBuilder(kForward).oifname(br).ct_established_related().accept().build(tag, Where::kTail));
  out.push_back(RuleBuilder(kForward).oifname(br).ct_dnat().accept().build(tag, Where::kTail));
  out.push_back(RuleBuilder(kForward).oifname(br).iifname(br).accept().build(tag, Where::kTail));
  for (const auto& trusted : r.trusted_interfaces) {
    out.push_back(
        RuleBuilder(kForward).oifname(br).iifname(trusted).accept().build(tag, Where::kTail));
  }
  if (!r.isolate) {
    out.push_back(RuleBuilder(kForward).oifname(br).jump(kOpen).build(tag, Where::kTail));
    out.push_back(RuleBuilder(kOpen).iifname(br).accept().build(tag, Where::kTail));
  }
  out.push_back(RuleBuilder(kForward).oifname(br).drop().build(tag, Where::kTail));

  if (r.masquerade) {
    for (const auto& subnet : r.subnets) {
      RuleBuilder b(kPostrouting);
      b.nfproto(subnet.family()).saddr(subnet);
      for (const auto& other : r.subnets) {
        if (other.family() == subnet.family()) b.daddr(other, false);
      }
      b.daddr(multicast(subnet.family()), false).masquerade();
      out.push_back(b.build(tag, Where::kTail));
    }
  }
  // Hairpin: a container reaching a published port through a host address gets DNATed back
  // into its bridge; without the masquerade the reply would skip the host and its un-DNAT. Not
  // `iifname B`: with br_netfilter the kernel bridges such a packet (br_nf_pre_routing_finish,
  // "bridged DNAT") and its postrouting hook has no input device.
  for (const auto& subnet : r.subnets) {
    out.push_back(RuleBuilder(kPostrouting)
                      .oifname(br)
                      .ct_dnat()
                      .nfproto(subnet.family())
                      .saddr(subnet)
                      .masquerade()
                      .build(tag, Where::kTail));
  }
  // The host connecting to 127.0.0.1:<published port>: after the DNAT the source is still a
  // loopback address, which the container cannot answer. Routing it out of the bridge at all
  // needs net.ipv4.conf.<bridge>.route_localnet=1.
  out.push_back(RuleBuilder(kPostrouting)
                    .oifname(br)
                    .nfproto(net::Family::kV4)
                    .saddr(loopback4())
                    .masquerade()
                    .build(tag, Where::kTail));
  return out;
}

std::vector<nft::Rule> endpoint_rules(const EndpointRules& r) {
  const std::string tag = endpoint_tag(r.network, r.container_id, r.ifname);
  std::vector<nft::Rule> out;
  if (r.spoof_check) {
    out.push_back(RuleBuilder(kSpoofCheck, nft::Table::kBridge)
                      .iifname(r.spoof_check->host_ifname)
                      .ether_saddr(r.spoof_check->mac, false)
                      .drop()
                      .build(tag, Where::kTail));
  }
  // The first address of each family is the target, as in Docker.
  std::vector<net::IpAddr> targets;
  for (const auto& ip : r.ips) {
    bool seen = false;
    for (const auto& t : targets) seen = seen || t.family() == ip.family();
    if (!seen) targets.push_back(ip);
  }
  for (const auto& port : r.ports) {
    const Proto proto = *proto_of(port.protocol);
    for (const auto& target : targets) {
      if (port.host_ip && port.host_ip->family() != target.family()) continue;
      const bool any = !port.host_ip || port.host_ip->is_unspecified();
      for (std::string_view chain : {kPrerouting, kOutput}) {
        // A loopback address is the host's alone: only the host's own connections (nat-output)
        // are DNATed to it, never what arrives from another interface, which otherwise would
        // be DNATed before the routing could call it a martian.
        if (chain == kPrerouting && !any && is_loopback(*port.host_ip)) continue;
        RuleBuilder b(chain);
        b.nfproto(target.family());
        if (!any) {
          b.daddr(*port.host_ip);
        } else {
          // ::1 cannot be routed out of the host (IPv6 has no route_localnet): let such a
          // connection be refused rather than hang.
          if (chain == kOutput && !target.is_v4()) b.daddr(*net::IpAddr::parse("::1"), false);
          // Every local address, but loopback ones only from the host (above).
          if (chain == kPrerouting && target.is_v4()) b.daddr(loopback4(), false);
          b.fib_daddr_local();
        }
        b.l4proto(proto.number, proto.name).dport(port.host_port).dnat(target, port.container_port);
        out.push_back(b.build(tag, Where::kTail));
      }
    }
  }
  return out;
}

namespace {

std::string key_of(nft::Table table, std::string_view chain, std::string_view signature,
                   std::string_view tag) {
  std::string k(nft::family_name(table));
  k += ' ';
  k += chain;
  k += '\n';
  k += signature;
  k += '\n';
  k += tag;
  return k;
}

// The table and its chains, for the rules of a batch that go there.
void add_skeleton(nft::Batch& b, nft::Table table) {
  b.add_table(table);
  for (const auto& chain : chains()) {
    if (chain.table == table) b.add_chain(chain);
  }
}

}  // namespace

Diff diff(const std::vector<nft::Installed>& have, const std::vector<nft::Rule>& want) {
  std::multimap<std::string, const nft::Installed*> left;
  for (const auto& r : have) left.emplace(key_of(r.table, r.chain, r.signature, r.tag), &r);
  Diff d;
  for (const auto& r : want) {
    auto it = left.find(key_of(r.table, r.chain, r.signature(), r.tag));
    if (it == left.end()) {
      d.missing.push_back(&r);
    } else {
      left.erase(it);
    }
  }
  for (const auto& [key, r] : left) d.unexpected.push_back(r);
  return d;
}

bool plan_replace(const std::vector<nft::Installed>& have, const std::vector<nft::Rule>& want,
                  nft::Batch& b) {
  if (diff(have, want).empty()) return false;
  // Only the tables the wanted rules go to: one without weir's rules is not made.
  for (nft::Table table : kTables) {
    const bool used = std::any_of(want.begin(), want.end(),
                                  [&](const nft::Rule& r) { return r.table == table; });
    if (used) add_skeleton(b, table);
  }
  for (const auto& r : have) b.del_rule(r);
  // Each head insert goes first in its chain: insert in reverse to keep the listed order.
  for (auto it = want.rbegin(); it != want.rend(); ++it) {
    if (it->where == nft::Where::kHead) b.add_rule(*it);
  }
  for (const auto& r : want) {
    if (r.where == nft::Where::kTail) b.add_rule(r);
  }
  return true;
}

}  // namespace weir::firewall::detail
