// Bridge: its own attributes (IFLA_BR_*) and bridge-port attributes (IFLA_BRPORT_*).
#include <linux/if_bridge.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "lib/netlink/internal.hpp"

namespace weir::netlink {

using namespace detail;  // this file is part of lib/netlink

namespace {

constexpr std::string_view kKind = "bridge";

LinkKind bridge_kind(const BridgeSpec& spec) {
  if (!spec.vlan_filtering) return {.kind = kKind};
  return {.kind = kKind,
          .fill_data = [](nl_msg* msg) { return nla_put_u8(msg, IFLA_BR_VLAN_FILTERING, 1); }};
}

// An existing link of the bridge's name: it must be a bridge; then it is set up.
Expected<LinkInfo> adopt(Socket& sock, LinkInfo link, const BridgeSpec& spec,
                         std::string_view what) {
  if (link.kind != kKind) {
    return fail(cni::invalid_config(
        std::string(what) + ": link " + quoted(link.name) + " exists and is " +
        (link.kind.empty() ? std::string("not a virtual link") : "a " + link.kind) +
        ", not a bridge"));
  }
  if (spec.vlan_filtering) {
    const LinkKind kind = bridge_kind(spec);
    if (auto ok =
            change_link(sock, link.index, {}, &kind, std::string(what) + ": set vlan_filtering");
        !ok) {
      return fail(std::move(ok.error()));
    }
  }
  if (!link.up) {
    if (auto ok = set_link_up(sock, link.index, true); !ok) {
      return fail(std::move(ok.error()).context(what));
    }
    link.up = true;
    link.flags |= IFF_UP;
  }
  return link;
}

std::string create_what(const BridgeSpec& spec) {
  return "create bridge " + quoted(spec.name) +
         (spec.vlan_filtering ? " with vlan_filtering" : std::string());
}

}  // namespace

Expected<MessageBytes> create_bridge_request(const BridgeSpec& spec) {
  const std::string what = create_what(spec);
  if (auto ok = check_ifname(spec.name, what); !ok) return fail(std::move(ok.error()));
  LinkAttrs attrs{.name = spec.name, .flags = IFF_UP, .change = IFF_UP};
  if (spec.mtu != 0) attrs.mtu = spec.mtu;
  attrs.mac = spec.mac;
  return create_request(attrs, bridge_kind(spec), what);
}

Expected<LinkInfo> ensure_bridge(Socket& sock, const BridgeSpec& spec, bool* created) {
  const std::string what = "ensure bridge " + quoted(spec.name);
  if (created != nullptr) *created = false;
  if (auto ok = check_ifname(spec.name, what); !ok) return fail(std::move(ok.error()));
  // Usually the bridge is there (every ADD but the first): one RTM_GETLINK.
  auto existing = get_link(sock, spec.name);
  if (existing) return adopt(sock, std::move(*existing), spec, what);
  if (existing.error().sys_errno != ENODEV) return fail(std::move(existing.error()).context(what));

  auto made = send_link_request(sock, create_bridge_request(spec), create_what(spec));
  if (!made && made.error().sys_errno != EEXIST) return fail(std::move(made.error()));
  // EEXIST: another plugin created it between our two requests; take it as if it was there.
  auto link = get_link(sock, spec.name);
  if (!link) return fail(std::move(link.error()).context(what));
  if (!made) return adopt(sock, std::move(*link), spec, what);
  if (created != nullptr) *created = true;
  return link;
}

namespace {

std::string hairpin_what(int ifindex, bool on) {
  return "set hairpin " + std::string(on ? "on" : "off") + " on bridge port " + ifindex_str(ifindex);
}

}  // namespace

Expected<MessageBytes> bridge_port_hairpin_request(int ifindex, bool on) {
  const std::string what = hairpin_what(ifindex, on);
  // RTM_SETLINK of family AF_BRIDGE goes to the bridge's ndo_bridge_setlink, which takes the
  // port attributes nested in IFLA_PROTINFO (NLA_F_NESTED set, else it reads the old u8 state).
  MsgPtr msg(nlmsg_alloc_simple(RTM_SETLINK, 0));
  if (!msg || put_ifinfo(msg.get(), AF_BRIDGE, ifindex, {}) < 0) return fail(nomem(what));
  nlattr* protinfo = nest_start(msg.get(), IFLA_PROTINFO);
  if (protinfo == nullptr || nla_put_u8(msg.get(), IFLA_BRPORT_MODE, on ? 1 : 0) < 0) {
    return fail(nomem(what));
  }
  nla_nest_end(msg.get(), protinfo);
  return bytes_of(msg.get());
}

Expected<void> set_bridge_port_hairpin(Socket& sock, int ifindex, bool on) {
  // EOPNOTSUPP: the link is not a bridge port.
  return send_link_request(sock, bridge_port_hairpin_request(ifindex, on), hairpin_what(ifindex, on));
}

}  // namespace weir::netlink
