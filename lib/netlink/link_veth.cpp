// Veth: its one attribute is the peer (VETH_INFO_PEER: an ifinfomsg and link attributes of
// its own, IFLA_NET_NS_FD included), so the peer is born in its netns under its final name.
#include <linux/veth.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>

#include "lib/netlink/internal.hpp"

namespace weir::netlink {

using namespace detail;  // this file is part of lib/netlink

namespace {

std::string peer_where(const VethSpec& spec) {
  return spec.peer_netns ? " in netns " + quoted(spec.peer_netns->path()) : std::string();
}

std::string veth_what(const VethSpec& spec) {
  return "create veth " + quoted(spec.host_name) + " with peer " + quoted(spec.peer_name) +
         peer_where(spec);
}

}  // namespace

Expected<MessageBytes> create_veth_request(const VethSpec& spec, const net::Mac& peer_mac) {
  const std::string what = veth_what(spec);
  if (auto ok = check_ifname(spec.host_name, what); !ok) return fail(std::move(ok.error()));
  if (auto ok = check_ifname(spec.peer_name, what); !ok) return fail(std::move(ok.error()));
  std::optional<uint32_t> mtu;
  if (spec.mtu != 0) mtu = spec.mtu;
  const LinkAttrs peer{.name = spec.peer_name,
                       .mtu = mtu,
                       .mac = peer_mac,
                       .netns = spec.peer_netns,
                       .queues = spec.queues};
  const LinkKind kind{.kind = "veth", .fill_data = [&peer](nl_msg* msg) {
                        nlattr* nest = nest_start(msg, VETH_INFO_PEER);
                        if (nest == nullptr) return -NLE_NOMEM;
                        if (int rc = put_ifinfo(msg, AF_UNSPEC, 0, peer); rc < 0) return rc;
                        nla_nest_end(msg, nest);
                        return 0;
                      }};
  // The kernel takes IPv6 settings only once a link exists: then the host end is made down
  // and brought up by the request that sets them, before it can get an address.
  const unsigned up = spec.host_without_ipv6_lladdr ? 0u : static_cast<unsigned>(IFF_UP);
  const LinkAttrs attrs{.name = spec.host_name,
                        .mtu = mtu,
                        .mac = spec.host_mac,
                        .master = spec.host_master ? std::optional<int>(spec.host_master) : std::nullopt,
                        .queues = spec.queues,
                        .flags = up,
                        .change = up};
  return create_request(attrs, kind, what);
}

Expected<VethPair> create_veth(Socket& host, const VethSpec& spec) {
  const std::string what = veth_what(spec);
  if (auto ok = check_ifname(spec.host_name, what); !ok) return fail(std::move(ok.error()));
  if (auto ok = check_ifname(spec.peer_name, what); !ok) return fail(std::move(ok.error()));
  if (auto ok = check_alias(spec.host_alias, what); !ok) return fail(std::move(ok.error()));

  // Chosen here when not given, so that the result needs no request in the peer's netns.
  net::Mac peer_mac;
  if (spec.peer_mac) {
    peer_mac = *spec.peer_mac;
  } else {
    auto mac = random_mac();
    if (!mac) return fail(std::move(mac.error()).context(what));
    peer_mac = *mac;
  }
  if (auto created = send_link_request(host, create_veth_request(spec, peer_mac), what); !created) {
    if (created.error().sys_errno == EEXIST) {
      // The kernel does not say which name is taken: when the host one is free, the peer's was.
      const bool host_taken = get_link(host, spec.host_name).has_value();
      cni::Error e = cni::sys_error(
          EEXIST, what + ": link " +
                      (host_taken ? quoted(spec.host_name) + " already exists"
                                  : quoted(spec.peer_name) + " already exists" + peer_where(spec)));
      return fail(std::move(e));
    }
    return fail(std::move(created.error()));
  }

  auto link = get_link(host, spec.host_name);
  if (link && (spec.host_without_ipv6_lladdr || !spec.host_alias.empty())) {
    // The kernel takes no alias with a new link: it goes with the request that brings it up.
    const AddressConf conf{.no_ipv6_lladdr = spec.host_without_ipv6_lladdr, .up = true, .alias = spec.host_alias};
    if (auto ok = set_address_conf(host, link->index, conf); ok) {
      link->up = true;
      link->alias = spec.host_alias;
    } else {
      link = fail(std::move(ok.error()));
    }
  }
  if (!link) {
    (void)del_link(host, spec.host_name);  // takes the peer with it
    return fail(std::move(link.error()).context(what));
  }
  VethPair pair{.peer_index = link->link, .peer_mac = peer_mac};
  pair.host = std::move(*link);
  return pair;
}

std::string veth_name(std::string_view container_id, std::string_view ifname) {
  // FNV-1a, 32 bits: stable across builds and platforms, unlike std::hash.
  uint32_t h = 2166136261u;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 16777619u;
    }
  };
  mix(container_id);
  mix("/");
  mix(ifname);
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", h);
  return "veth" + std::string(hex);
}

bool is_veth_name(std::string_view name) {
  return name.size() == 12 && name.starts_with("veth") &&
         std::all_of(name.begin() + 4, name.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace weir::netlink
