// Reading a request back: each message of message.hpp taken apart attribute by attribute, with
// every length checked (the bytes may come from anywhere), into plain structs.
#include "lib/netlink/message.hpp"

#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "lib/netlink/internal.hpp"

namespace weir::netlink {

using namespace detail;  // this file is part of lib/netlink

namespace {

cni::Error bad(std::string_view why) {
  return cni::sys_error(EBADMSG, "read netlink message: " + std::string(why));
}

// The message copied into aligned memory, checked to be exactly one message of one of `types`
// with a family header of hdr_len.
Expected<std::vector<uint32_t>> one_message(std::span<const uint8_t> bytes,
                                            std::initializer_list<int> types, size_t hdr_len) {
  // A netlink message's length is a u32; weir's requests are far below 64 KiB.
  constexpr size_t kMaxLen = 1 << 16;
  if (bytes.size() < NLMSG_HDRLEN) return fail(bad("shorter than a header"));
  if (bytes.size() > kMaxLen) return fail(bad("longer than 64 KiB"));
  std::vector<uint32_t> buf((bytes.size() + 3) / 4);
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<uint8_t*>(buf.data()));
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
  if (nlh->nlmsg_len < NLMSG_HDRLEN || NLMSG_ALIGN(nlh->nlmsg_len) != NLMSG_ALIGN(bytes.size())) {
    return fail(bad("length " + std::to_string(nlh->nlmsg_len) + " of a message of " +
                    std::to_string(bytes.size()) + " bytes"));
  }
  bool known = false;
  for (int t : types) known = known || nlh->nlmsg_type == t;
  if (!known) return fail(bad("unexpected type " + std::to_string(nlh->nlmsg_type)));
  if (nlh->nlmsg_len < NLMSG_SPACE(hdr_len)) return fail(bad("no room for its family header"));
  return buf;
}

nlmsghdr* header(std::vector<uint32_t>& buf) {
  return reinterpret_cast<nlmsghdr*>(buf.data());
}

// The attributes after a family header of hdr_len: fn(type, attr) for each, which returns
// false when an attribute is malformed. Trailing bytes that are no attribute are malformed too.
template <class Fn>
Expected<void> each_attr(nlattr* head, int len, Fn&& fn) {
  nlattr* pos = nullptr;
  int rem = 0;
  nla_for_each_attr(pos, head, len, rem) {
    if (!fn(nla_type(pos), pos)) {
      return fail(bad("malformed attribute " + std::to_string(nla_type(pos))));
    }
  }
  if (rem > 0) return fail(bad(std::to_string(rem) + " stray bytes after the attributes"));
  return {};
}

template <class Fn>
Expected<void> each_nested(nlattr* nest, Fn&& fn) {
  return each_attr(static_cast<nlattr*>(nla_data(nest)), nla_len(nest), std::forward<Fn>(fn));
}

template <class T>
bool get(nlattr* a, std::optional<T>& out) {
  if (nla_len(a) != static_cast<int>(sizeof(T))) return false;
  T v;
  std::memcpy(&v, nla_data(a), sizeof(T));
  out = v;
  return true;
}

bool get_int(nlattr* a, std::optional<int>& out) {
  std::optional<uint32_t> v;
  if (!get(a, v)) return false;
  out = static_cast<int>(*v);
  return true;
}

bool get_bool8(nlattr* a, std::optional<bool>& out) {
  std::optional<uint8_t> v;
  if (!get(a, v)) return false;
  out = *v != 0;
  return true;
}

// A NUL-terminated string attribute.
bool get_string(nlattr* a, std::optional<std::string>& out) {
  const int len = nla_len(a);
  const auto* p = static_cast<const char*>(nla_data(a));
  if (len < 1 || p[len - 1] != '\0') return false;
  out = std::string(p, std::strlen(p));
  return true;
}

bool get_mac(nlattr* a, std::optional<net::Mac>& out) {
  if (nla_len(a) != 6) return false;
  out = net::Mac::from_bytes(nla_data(a));
  return true;
}

bool get_ip(nlattr* a, std::optional<net::IpAddr>& out) {
  if (nla_len(a) == 4) {
    out = net::IpAddr::from_bytes(net::Family::kV4, nla_data(a));
  } else if (nla_len(a) == 16) {
    out = net::IpAddr::from_bytes(net::Family::kV6, nla_data(a));
  } else {
    return false;
  }
  return true;
}

// IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { IPV4_DEVCONF_* } }, AF_INET6 { ... } }.
bool read_af_spec(nlattr* spec, LinkFields& f) {
  auto ok = each_nested(spec, [&](int family, nlattr* fa) {
    if (family == AF_INET) {
      return each_nested(fa, [&](int t, nlattr* conf) {
               if (t != IFLA_INET_CONF) {
                 f.unknown.push_back(IFLA_AF_SPEC);
                 return true;
               }
               return each_nested(conf, [&](int key, nlattr* v) {
                        std::optional<uint32_t> value;
                        if (!get(v, value)) return false;
                        if (key == IPV4_DEVCONF_ARP_NOTIFY) {
                          f.arp_notify = *value != 0;
                        } else {
                          f.unknown.push_back(IFLA_AF_SPEC);
                        }
                        return true;
                      }).has_value();
             }).has_value();
    }
    if (family == AF_INET6) {
      return each_nested(fa, [&](int t, nlattr* v) {
               if (t == IFLA_INET6_ADDR_GEN_MODE) return get(v, f.ipv6_addr_gen_mode);
               f.unknown.push_back(IFLA_AF_SPEC);
               return true;
             }).has_value();
    }
    f.unknown.push_back(IFLA_AF_SPEC);
    return true;
  });
  return ok.has_value();
}

// One generic link attribute into f; false when malformed. Unknown types are listed.
bool read_link_attr(int type, nlattr* a, LinkFields& f) {
  switch (type) {
    case IFLA_IFNAME:
      return get_string(a, f.name);
    case IFLA_MTU:
      return get(a, f.mtu);
    case IFLA_ADDRESS:
      return get_mac(a, f.mac);
    case IFLA_NET_NS_FD:
      return get_int(a, f.netns_fd);
    case IFLA_LINK:
      return get_int(a, f.link);
    case IFLA_MASTER:
      return get_int(a, f.master);
    case IFLA_NUM_TX_QUEUES:
      return get(a, f.tx_queues);
    case IFLA_NUM_RX_QUEUES:
      return get(a, f.rx_queues);
    case IFLA_IFALIAS:
      return get_string(a, f.alias);
    case IFLA_AF_SPEC:
      return read_af_spec(a, f);
    default:
      f.unknown.push_back(type);
      return true;
  }
}

void read_ifinfo(const ifinfomsg& ifi, LinkFields& f) {
  f.family = ifi.ifi_family;
  f.index = ifi.ifi_index;
  f.flags = ifi.ifi_flags;
  f.change = ifi.ifi_change;
}

bool read_veth_data(nlattr* data, LinkMessage& m) {
  return each_nested(data, [&](int type, nlattr* a) {
           if (type != VETH_INFO_PEER) {
             m.unknown_info_data.push_back(type);
             return true;
           }
           // An ifinfomsg of the peer's own, then its attributes.
           if (nla_len(a) < static_cast<int>(NLMSG_ALIGN(sizeof(ifinfomsg)))) return false;
           LinkFields peer;
           ifinfomsg ifi;
           std::memcpy(&ifi, nla_data(a), sizeof(ifi));
           read_ifinfo(ifi, peer);
           auto* first = reinterpret_cast<nlattr*>(static_cast<char*>(nla_data(a)) +
                                                   NLMSG_ALIGN(sizeof(ifinfomsg)));
           const int len = nla_len(a) - static_cast<int>(NLMSG_ALIGN(sizeof(ifinfomsg)));
           if (!each_attr(first, len, [&](int t, nlattr* pa) { return read_link_attr(t, pa, peer); })) {
             return false;
           }
           m.veth_peer = std::move(peer);
           return true;
         }).has_value();
}

bool read_vxlan_data(nlattr* data, LinkMessage& m) {
  VxlanFields v;
  auto ok = each_nested(data, [&](int type, nlattr* a) {
    switch (type) {
      case IFLA_VXLAN_ID:
        return get(a, v.vni);
      case IFLA_VXLAN_LOCAL:
      case IFLA_VXLAN_LOCAL6:
        if (nla_len(a) != (type == IFLA_VXLAN_LOCAL ? 4 : 16)) return false;
        return get_ip(a, v.local);
      case IFLA_VXLAN_LINK:
        return get_int(a, v.link);
      case IFLA_VXLAN_PORT: {
        std::optional<uint16_t> be;
        if (!get(a, be)) return false;
        v.port = ntohs(*be);
        return true;
      }
      case IFLA_VXLAN_LEARNING:
        return get_bool8(a, v.learning);
      case IFLA_VXLAN_PROXY:
        return get_bool8(a, v.proxy);
      case IFLA_VXLAN_UDP_CSUM:
        return get_bool8(a, v.udp_csum);
      default:
        m.unknown_info_data.push_back(type);
        return true;
    }
  });
  if (!ok) return false;
  m.vxlan = std::move(v);
  return true;
}

bool read_info_data(nlattr* data, LinkMessage& m) {
  m.has_info_data = true;
  if (m.kind == "veth") return read_veth_data(data, m);
  if (m.kind == "vxlan") return read_vxlan_data(data, m);
  return each_nested(data, [&](int type, nlattr* a) {
           if (m.kind == "bridge" && type == IFLA_BR_VLAN_FILTERING) {
             return get_bool8(a, m.bridge_vlan_filtering);
           }
           if (m.kind == "macvlan" && type == IFLA_MACVLAN_MODE) {
             std::optional<uint32_t> mode;
             if (!get(a, mode)) return false;
             m.macvlan_mode = macvlan_mode_from(*mode);
             return m.macvlan_mode.has_value();
           }
           m.unknown_info_data.push_back(type);
           return true;
         }).has_value();
}

// IFLA_LINKINFO { IFLA_INFO_KIND, IFLA_INFO_DATA }: the kind first, whatever the order sent.
bool read_link_info(nlattr* info, LinkMessage& m) {
  nlattr* data = nullptr;
  auto ok = each_nested(info, [&](int type, nlattr* a) {
    if (type == IFLA_INFO_KIND) {
      std::optional<std::string> kind;
      if (!get_string(a, kind)) return false;
      m.kind = std::move(*kind);
      return true;
    }
    if (type == IFLA_INFO_DATA) {
      data = a;
      return true;
    }
    m.unknown.push_back(IFLA_LINKINFO);
    return true;
  });
  if (!ok) return false;
  return data == nullptr || read_info_data(data, m);
}

}  // namespace

Expected<LinkMessage> parse_link_message(std::span<const uint8_t> bytes) {
  auto buf = one_message(bytes, {RTM_NEWLINK, RTM_DELLINK, RTM_SETLINK}, sizeof(ifinfomsg));
  if (!buf) return fail(std::move(buf.error()));
  nlmsghdr* nlh = header(*buf);
  LinkMessage m;
  m.type = nlh->nlmsg_type;
  m.nlmsg_flags = nlh->nlmsg_flags;
  read_ifinfo(*static_cast<const ifinfomsg*>(nlmsg_data(nlh)), m);
  auto ok = each_attr(nlmsg_attrdata(nlh, sizeof(ifinfomsg)), nlmsg_attrlen(nlh, sizeof(ifinfomsg)),
                      [&](int type, nlattr* a) {
                        if (type == IFLA_LINKINFO) return read_link_info(a, m);
                        if (type == IFLA_PROTINFO) {
                          return each_nested(a, [&](int t, nlattr* pa) {
                                   if (t == IFLA_BRPORT_MODE) return get_bool8(pa, m.brport_hairpin);
                                   m.unknown.push_back(IFLA_PROTINFO);
                                   return true;
                                 }).has_value();
                        }
                        return read_link_attr(type, a, m);
                      });
  if (!ok) return fail(std::move(ok.error()));
  return m;
}

Expected<NeighMessage> parse_neigh_message(std::span<const uint8_t> bytes) {
  auto buf = one_message(bytes, {RTM_NEWNEIGH, RTM_DELNEIGH}, sizeof(ndmsg));
  if (!buf) return fail(std::move(buf.error()));
  nlmsghdr* nlh = header(*buf);
  const auto* ndm = static_cast<const ndmsg*>(nlmsg_data(nlh));
  NeighMessage m{.type = nlh->nlmsg_type,
                 .nlmsg_flags = nlh->nlmsg_flags,
                 .family = ndm->ndm_family,
                 .ifindex = ndm->ndm_ifindex,
                 .state = ndm->ndm_state,
                 .flags = ndm->ndm_flags};
  auto ok = each_attr(nlmsg_attrdata(nlh, sizeof(ndmsg)), nlmsg_attrlen(nlh, sizeof(ndmsg)),
                      [&](int type, nlattr* a) {
                        if (type == NDA_DST) return get_ip(a, m.dst);
                        if (type == NDA_LLADDR) return get_mac(a, m.lladdr);
                        m.unknown.push_back(type);
                        return true;
                      });
  if (!ok) return fail(std::move(ok.error()));
  return m;
}

Expected<AddrMessage> parse_addr_message(std::span<const uint8_t> bytes) {
  auto buf = one_message(bytes, {RTM_NEWADDR, RTM_DELADDR}, sizeof(ifaddrmsg));
  if (!buf) return fail(std::move(buf.error()));
  nlmsghdr* nlh = header(*buf);
  const auto* ifa = static_cast<const ifaddrmsg*>(nlmsg_data(nlh));
  AddrMessage m{.type = nlh->nlmsg_type,
                .nlmsg_flags = nlh->nlmsg_flags,
                .family = ifa->ifa_family,
                .prefix_len = ifa->ifa_prefixlen,
                .ifindex = static_cast<int>(ifa->ifa_index),
                .scope = ifa->ifa_scope};
  auto ok = each_attr(nlmsg_attrdata(nlh, sizeof(ifaddrmsg)), nlmsg_attrlen(nlh, sizeof(ifaddrmsg)),
                      [&](int type, nlattr* a) {
                        switch (type) {
                          case IFA_LOCAL:
                            return get_ip(a, m.local);
                          case IFA_ADDRESS:
                            return get_ip(a, m.address);
                          case IFA_BROADCAST:
                            return get_ip(a, m.broadcast);
                          case IFA_FLAGS:
                            return get(a, m.ifa_flags);
                          default:
                            m.unknown.push_back(type);
                            return true;
                        }
                      });
  if (!ok) return fail(std::move(ok.error()));
  return m;
}

Expected<RouteMessage> parse_route_message(std::span<const uint8_t> bytes) {
  auto buf = one_message(bytes, {RTM_NEWROUTE, RTM_DELROUTE}, sizeof(rtmsg));
  if (!buf) return fail(std::move(buf.error()));
  nlmsghdr* nlh = header(*buf);
  const auto* rtm = static_cast<const rtmsg*>(nlmsg_data(nlh));
  RouteMessage m{.type = nlh->nlmsg_type,
                 .nlmsg_flags = nlh->nlmsg_flags,
                 .family = rtm->rtm_family,
                 .dst_len = rtm->rtm_dst_len,
                 .table = rtm->rtm_table,
                 .protocol = rtm->rtm_protocol,
                 .scope = rtm->rtm_scope,
                 .route_type = rtm->rtm_type};
  auto ok = each_attr(nlmsg_attrdata(nlh, sizeof(rtmsg)), nlmsg_attrlen(nlh, sizeof(rtmsg)),
                      [&](int type, nlattr* a) {
                        switch (type) {
                          case RTA_DST:
                            return get_ip(a, m.dst);
                          case RTA_GATEWAY:
                            return get_ip(a, m.gateway);
                          case RTA_OIF:
                            return get_int(a, m.oif);
                          case RTA_PRIORITY:
                            return get(a, m.priority);
                          case RTA_TABLE: {
                            std::optional<uint32_t> table;
                            if (!get(a, table)) return false;
                            m.table = *table;
                            return true;
                          }
                          default:
                            m.unknown.push_back(type);
                            return true;
                        }
                      });
  if (!ok) return fail(std::move(ok.error()));
  return m;
}

}  // namespace weir::netlink
