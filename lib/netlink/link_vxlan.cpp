// VXLAN: its own attributes (IFLA_VXLAN_*): VNI, local address, underlay, port, learning.
#include <arpa/inet.h>
#include <netlink/route/link/vxlan.h>

#include <cerrno>
#include <string>
#include <vector>

#include "lib/netlink/internal.hpp"

namespace weir::netlink {

using namespace detail;  // this file is part of lib/netlink

namespace {

constexpr std::string_view kKind = "vxlan";

LinkKind vxlan_kind(const VxlanSpec& spec) {
  return {.kind = kKind, .fill_data = [&spec](nl_msg* msg) {
            int rc = nla_put_u32(msg, IFLA_VXLAN_ID, spec.vni);
            if (rc >= 0 && spec.local) {
              rc = nla_put(msg, spec.local->is_v4() ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6,
                           static_cast<int>(spec.local->size()), spec.local->data());
            }
            if (rc >= 0 && spec.underlay != 0) {
              rc = nla_put_u32(msg, IFLA_VXLAN_LINK, static_cast<uint32_t>(spec.underlay));
            }
            // The kernel takes the port in network byte order (nla_get_be16).
            if (rc >= 0) rc = nla_put_u16(msg, IFLA_VXLAN_PORT, htons(spec.port));
            if (rc >= 0) rc = nla_put_u8(msg, IFLA_VXLAN_LEARNING, spec.learning ? 1 : 0);
            return rc;
          }};
}

// What of spec an existing vxlan link does not have; empty when it matches.
std::vector<std::string> mismatches(rtnl_link* link, const VxlanSpec& spec) {
  std::vector<std::string> out;
  uint32_t vni = 0;
  if (rtnl_link_vxlan_get_id(link, &vni) < 0 || vni != spec.vni) {
    out.push_back("vni " + std::to_string(vni) + " instead of " + std::to_string(spec.vni));
  }
  uint32_t port = 0;  // libnl returns it in host byte order
  if (rtnl_link_vxlan_get_port(link, &port) < 0 || port != spec.port) {
    out.push_back("port " + std::to_string(port) + " instead of " + std::to_string(spec.port));
  }
  if ((rtnl_link_vxlan_get_learning(link) > 0) != spec.learning) {
    out.push_back(spec.learning ? "learning off" : "learning on");
  }
  uint32_t underlay = 0;
  if (rtnl_link_vxlan_get_link(link, &underlay) < 0) underlay = 0;
  if (underlay != static_cast<uint32_t>(spec.underlay)) {
    out.push_back("underlay ifindex " + std::to_string(underlay) + " instead of " +
                  std::to_string(spec.underlay));
  }
  nl_addr* raw = nullptr;
  std::optional<net::IpAddr> local;
  if (rtnl_link_vxlan_get_local(link, &raw) >= 0 && raw != nullptr) {
    AddrPtr owned(raw);  // libnl hands out a new reference
    local = to_ip(owned.get());
  }
  if (local && local->is_unspecified()) local.reset();
  if (local != spec.local) {
    out.push_back("local " + (local ? local->str() : std::string("none")) + " instead of " +
                  (spec.local ? spec.local->str() : std::string("none")));
  }
  return out;
}

Expected<LinkInfo> verify(Socket& sock, const VxlanSpec& spec, std::string_view what) {
  // The vxlan's own attributes as libnl parses them, from the same answer.
  LinkPtr link;
  auto parsed = [](nl_object* obj, void* arg) {
    nl_object_get(obj);
    static_cast<LinkPtr*>(arg)->reset(reinterpret_cast<rtnl_link*>(obj));
  };
  auto got = fetch_link(sock, 0, spec.name.c_str(), what, [&](nl_msg* msg) { nl_msg_parse(msg, parsed, &link); });
  if (!got) return fail(std::move(got.error()));
  LinkInfo info = std::move(*got);
  if (info.kind != kKind) {
    return fail(cni::invalid_config(
        std::string(what) + ": link " + quoted(spec.name) + " exists and is " +
        (info.kind.empty() ? std::string("not a virtual link") : "a " + info.kind) +
        ", not a vxlan"));
  }
  if (!link) return fail(cni::sys_error(EBADMSG, std::string(what)));
  if (auto diff = mismatches(link.get(), spec); !diff.empty()) {
    std::string list;
    for (const auto& d : diff) list += (list.empty() ? "" : ", ") + d;
    return fail(cni::invalid_config(std::string(what) + ": vxlan " + quoted(spec.name) +
                                    " exists with " + list));
  }
  if (!info.up) {
    if (auto ok = set_link_up(sock, info.index, true); !ok) {
      return fail(std::move(ok.error()).context(what));
    }
    info.up = true;
    info.flags |= IFF_UP;
  }
  return info;
}

std::string vxlan_what(const VxlanSpec& spec) {
  return "ensure vxlan " + quoted(spec.name) + " vni " + std::to_string(spec.vni);
}

Expected<void> validate(const VxlanSpec& spec, const std::string& what) {
  if (auto ok = check_ifname(spec.name, what); !ok) return ok;
  if (spec.vni >= (1u << 24)) return fail(cni::invalid_config(what + ": a VNI has 24 bits"));
  return {};
}

}  // namespace

Expected<MessageBytes> create_vxlan_request(const VxlanSpec& spec) {
  if (auto ok = validate(spec, vxlan_what(spec)); !ok) return fail(std::move(ok.error()));
  LinkAttrs attrs{.name = spec.name, .flags = IFF_UP, .change = IFF_UP};
  if (spec.mtu != 0) attrs.mtu = spec.mtu;
  return create_request(attrs, vxlan_kind(spec), "create vxlan " + quoted(spec.name));
}

Expected<LinkInfo> ensure_vxlan(Socket& sock, const VxlanSpec& spec) {
  const std::string what = vxlan_what(spec);
  if (auto ok = validate(spec, what); !ok) return fail(std::move(ok.error()));
  auto existing = verify(sock, spec, what);
  if (existing || existing.error().sys_errno != ENODEV) return existing;

  auto created =
      send_link_request(sock, create_vxlan_request(spec), "create vxlan " + quoted(spec.name));
  if (!created && created.error().sys_errno != EEXIST) return fail(std::move(created.error()));
  // Created now, or by a concurrent plugin (EEXIST): either way, check what is there.
  return verify(sock, spec, what);
}

}  // namespace weir::netlink
