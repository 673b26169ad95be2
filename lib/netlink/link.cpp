// What every link kind shares: reading and listing links, building and sending RTM_NEWLINK
// (create, create-then-rename, change), and the generic per-link changes. The link_<kind>.cpp
// files add only their own IFLA_INFO_DATA, through LinkKind.
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <string>
#include <utility>

#include "lib/cni/fd.hpp"
#include "lib/netlink/internal.hpp"

namespace weir::netlink {

using namespace detail;  // this file is part of lib/netlink

namespace {

// Links created by create_link_renamed() live under this prefix for the instant between
// creation and the rename; a leftover after a crash is recognisable by it.
constexpr std::string_view kTempPrefix = "weirtmp";

Expected<std::string> temp_name() {
  uint32_t r = 0;
  if (::getrandom(&r, sizeof(r), 0) != sizeof(r)) {
    return fail(cni::sys_error(errno, "random temporary link name"));
  }
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", r);
  return std::string(kTempPrefix) + hex;
}

// The netns of sock, as an fd for IFLA_NET_NS_FD (SIOCGSKNS, Linux 4.9, CAP_NET_ADMIN): a
// Socket opened with open_in() may be in a netns the calling thread is not in.
Expected<UniqueFd> netns_of(Socket& sock) {
  const int fd = ::ioctl(nl_socket_get_fd(sock.native()), SIOCGSKNS);
  if (fd < 0) return fail(cni::sys_error(errno, "the netns of an rtnetlink socket"));
  return UniqueFd(fd);
}

}  // namespace

namespace detail {

Expected<void> check_ifname(std::string_view name, std::string_view what) {
  bool ok = !name.empty() && name.size() < IFNAMSIZ && name != "." && name != "..";
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r')) ok = false;
  }
  if (ok) return {};
  return fail(cni::sys_error(EINVAL, std::string(what) + ": bad interface name " + quoted(name),
                             cni::Code::kInvalidConfig));
}

int put_ifinfo(nl_msg* msg, int family, int ifindex, const LinkAttrs& a) {
  ifinfomsg ifi{};
  ifi.ifi_family = static_cast<unsigned char>(family);
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = a.flags;
  ifi.ifi_change = a.change;
  if (int rc = nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO); rc < 0) return rc;
  return put_link_attrs(msg, a);
}

int put_link_attrs(nl_msg* msg, const LinkAttrs& a) {
  int rc = 0;
  if (a.name && (rc = nla_put_string(msg, IFLA_IFNAME, a.name->c_str())) < 0) return rc;
  if (a.mtu && (rc = nla_put_u32(msg, IFLA_MTU, *a.mtu)) < 0) return rc;
  if (a.mac && (rc = nla_put(msg, IFLA_ADDRESS, 6, a.mac->data())) < 0) return rc;
  const int netns_fd = a.netns ? a.netns->fd() : a.netns_fd;
  if (netns_fd >= 0 &&
      (rc = nla_put_u32(msg, IFLA_NET_NS_FD, static_cast<uint32_t>(netns_fd))) < 0) {
    return rc;
  }
  if (a.parent && (rc = nla_put_u32(msg, IFLA_LINK, static_cast<uint32_t>(*a.parent))) < 0) {
    return rc;
  }
  if (a.master && (rc = nla_put_u32(msg, IFLA_MASTER, static_cast<uint32_t>(*a.master))) < 0) {
    return rc;
  }
  if (a.queues != 0 && ((rc = nla_put_u32(msg, IFLA_NUM_TX_QUEUES, a.queues)) < 0 ||
                        (rc = nla_put_u32(msg, IFLA_NUM_RX_QUEUES, a.queues)) < 0)) {
    return rc;
  }
  // With its NUL: the kernel takes a zero-length string attribute as malformed, and "\0" as
  // "no alias" (dev_set_alias stores "", which is never reported).
  if (a.alias && (rc = nla_put_string(msg, IFLA_IFALIAS, a.alias->c_str())) < 0) return rc;
  if (!a.arp_notify && !a.ipv6_no_lladdr) return 0;
  nlattr* spec = nest_start(msg, IFLA_AF_SPEC);
  if (spec == nullptr) return -NLE_NOMEM;
  if (a.arp_notify) {
    // Per-link IPv4 settings by netlink: the attribute type is the IPV4_DEVCONF_* index.
    nlattr* inet = nest_start(msg, AF_INET);
    nlattr* conf = inet ? nest_start(msg, IFLA_INET_CONF) : nullptr;
    if (conf == nullptr) return -NLE_NOMEM;
    if ((rc = nla_put_u32(msg, IPV4_DEVCONF_ARP_NOTIFY, *a.arp_notify ? 1 : 0)) < 0) return rc;
    nla_nest_end(msg, conf);
    nla_nest_end(msg, inet);
  }
  if (a.ipv6_no_lladdr) {
    nlattr* inet6 = nest_start(msg, AF_INET6);
    if (inet6 == nullptr) return -NLE_NOMEM;
    if ((rc = nla_put_u8(msg, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE)) < 0) return rc;
    nla_nest_end(msg, inet6);
  }
  nla_nest_end(msg, spec);
  return 0;
}

int put_link_info(nl_msg* msg, const LinkKind& kind) {
  nlattr* info = nest_start(msg, IFLA_LINKINFO);
  if (info == nullptr) return -NLE_NOMEM;
  const std::string name(kind.kind);
  if (int rc = nla_put_string(msg, IFLA_INFO_KIND, name.c_str()); rc < 0) return rc;
  if (kind.fill_data) {
    nlattr* data = nest_start(msg, IFLA_INFO_DATA);
    if (data == nullptr) return -NLE_NOMEM;
    if (int rc = kind.fill_data(msg); rc < 0) return rc;
    nla_nest_end(msg, data);
  }
  nla_nest_end(msg, info);
  return 0;
}

Expected<MessageBytes> link_request(int type, int flags, int ifindex, const LinkAttrs& attrs,
                                    const LinkKind* kind, std::string_view what) {
  MsgPtr msg(nlmsg_alloc_simple(type, flags));
  if (!msg || put_ifinfo(msg.get(), AF_UNSPEC, ifindex, attrs) < 0 ||
      (kind && put_link_info(msg.get(), *kind) < 0)) {
    return fail(nomem(what));
  }
  return bytes_of(msg.get());
}

Expected<MessageBytes> create_request(const LinkAttrs& attrs, const LinkKind& kind,
                                      std::string_view what) {
  return link_request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, attrs, &kind, what);
}

Expected<void> send_link_request(Socket& sock, const Expected<MessageBytes>& req,
                                 std::string_view what) {
  if (!req) return fail(req.error());
  if (int err = request(sock, *req); err != 0) return fail(cni::sys_error(err, what));
  return {};
}

Expected<void> change_link(Socket& sock, int ifindex, const LinkAttrs& attrs, const LinkKind* kind,
                           std::string_view what) {
  return send_link_request(sock, link_request(RTM_NEWLINK, 0, ifindex, attrs, kind, what), what);
}

Expected<LinkInfo> create_link_renamed(Socket& sock, const std::string& name,
                                       const netns::Handle* netns, const BuildForName& build,
                                       std::string_view what) {
  if (auto ok = check_ifname(name, what); !ok) return fail(std::move(ok.error()));
  // The socket that renames and reads back is opened first: a failure here leaves nothing.
  std::optional<Socket> target_sock;
  if (netns != nullptr) {
    auto s = Socket::open_in(*netns);
    if (!s) return fail(std::move(s.error()).context(what));
    target_sock.emplace(std::move(*s));
  }
  Socket& target = target_sock ? *target_sock : sock;

  // A temporary name can only collide with another one (or a crash's leftover); draw again.
  constexpr int kAttempts = 3;
  std::string temp;
  Expected<void> created;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto drawn = temp_name();
    if (!drawn) return fail(std::move(drawn.error()).context(what));
    temp = std::move(*drawn);
    created = send_link_request(sock, build(temp), std::string(what) + " as " + quoted(temp));
    if (created || created.error().sys_errno != EEXIST) break;
  }
  if (!created) return fail(std::move(created.error()));

  auto made = get_link(target, temp);
  if (!made) {
    (void)del_link(target, temp);
    return fail(std::move(made.error()).context(what));
  }
  // Renamed where it is, by ifindex: a taken name fails here (EEXIST) and nothing has moved, so
  // deleting it on the same socket removes all of it.
  const std::string rename_what =
      std::string(what) + ": rename " + quoted(temp) + " as " + quoted(name);
  if (auto renamed = change_link(target, made->index, {.name = name}, nullptr, rename_what);
      !renamed) {
    if (auto undo = del_link(target, made->index); !undo) {
      renamed.error().details = "and could not delete it: " + undo.error().msg;
    }
    return fail(std::move(renamed.error()));
  }
  auto result = get_link(target, made->index);
  if (!result) {
    (void)del_link(target, made->index);
    return fail(std::move(result.error()).context(what));
  }
  return result;
}

Expected<net::Mac> random_mac() {
  std::array<uint8_t, 6> b{};
  if (::getrandom(b.data(), b.size(), 0) != static_cast<ssize_t>(b.size())) {
    return fail(cni::sys_error(errno, "random MAC address"));
  }
  b[0] = static_cast<uint8_t>((b[0] & 0xfe) | 0x02);  // unicast, locally administered
  return net::Mac::from_bytes(b.data());
}

}  // namespace detail

// ---- Reading

namespace {

// The LinkInfo of an RTM_NEWLINK message, read straight from its attributes: a libnl
// rtnl_link parses some sixty kinds of them, with an allocation for many, and is most of what
// a lookup costs a process that makes one per request (weir-agent, two in an ADD).
std::optional<LinkInfo> link_info_of(nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK) return std::nullopt;
  nlattr* tb[IFLA_MAX + 1];
  if (nlmsg_parse(nlh, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0) return std::nullopt;
  const auto* ifi = static_cast<const ifinfomsg*>(nlmsg_data(nlh));
  LinkInfo info;
  info.index = ifi->ifi_index;
  info.flags = ifi->ifi_flags;
  info.up = (info.flags & IFF_UP) != 0;
  if (tb[IFLA_IFNAME]) info.name = nla_get_string(tb[IFLA_IFNAME]);
  if (tb[IFLA_MTU]) info.mtu = nla_get_u32(tb[IFLA_MTU]);
  if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == 6) {
    info.mac = net::Mac::from_bytes(static_cast<const uint8_t*>(nla_data(tb[IFLA_ADDRESS])));
  }
  if (tb[IFLA_MASTER]) info.master = static_cast<int>(nla_get_u32(tb[IFLA_MASTER]));
  if (tb[IFLA_LINK]) info.link = static_cast<int>(nla_get_u32(tb[IFLA_LINK]));
  if (tb[IFLA_LINK_NETNSID]) info.link_netnsid = nla_get_s32(tb[IFLA_LINK_NETNSID]);
  if (tb[IFLA_IFALIAS]) info.alias = nla_get_string(tb[IFLA_IFALIAS]);
  nlattr* linkinfo[IFLA_INFO_MAX + 1];
  if (tb[IFLA_LINKINFO] && nla_parse_nested(linkinfo, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) == 0) {
    if (linkinfo[IFLA_INFO_KIND]) info.kind = nla_get_string(linkinfo[IFLA_INFO_KIND]);
    nlattr* data[IFLA_MACVLAN_MAX + 1];
    if (info.kind == "macvlan" && linkinfo[IFLA_INFO_DATA] &&
        nla_parse_nested(data, IFLA_MACVLAN_MAX, linkinfo[IFLA_INFO_DATA], nullptr) == 0 &&
        data[IFLA_MACVLAN_MODE]) {
      info.macvlan_mode = macvlan_mode_from(nla_get_u32(data[IFLA_MACVLAN_MODE]));
    }
  }
  return info;
}

}  // namespace

// One RTM_GETLINK for one link (no cache of every link in the netns), without statistics (the
// kernel would sum per-CPU counters for them, IPv6's included).
Expected<LinkInfo> detail::fetch_link(Socket& sock, int ifindex, const char* name, std::string_view what,
                                      const std::function<void(nl_msg*)>& also_msg) {
  ifinfomsg hdr{};
  hdr.ifi_family = AF_UNSPEC;
  hdr.ifi_index = ifindex;
  MsgPtr msg = new_msg(RTM_GETLINK, 0, &hdr, sizeof(hdr));
  if (!msg || (name != nullptr && nla_put_string(msg.get(), IFLA_IFNAME, name) < 0) ||
      nla_put_u32(msg.get(), IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0) {
    return fail(nomem(what));
  }
  std::optional<LinkInfo> got;
  auto ok = get_one(sock, std::move(msg), [&](nl_msg* answer) {
    got = link_info_of(nlmsg_hdr(answer));
    if (also_msg) also_msg(answer);
  }, what);
  if (!ok) return fail(std::move(ok.error()));  // ENODEV: no such link
  if (!got) return fail(cni::sys_error(EBADMSG, what));
  return std::move(*got);
}

Expected<LinkInfo> get_link(Socket& sock, std::string_view name) {
  const std::string what = "link " + quoted(name);
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return fail(cni::sys_error(EINVAL, what, cni::Code::kInvalidConfig));
  }
  const std::string copy(name);
  return fetch_link(sock, 0, copy.c_str(), what);
}

Expected<LinkInfo> get_link(Socket& sock, int ifindex) {
  return fetch_link(sock, ifindex, nullptr, "link " + ifindex_str(ifindex));
}

Expected<std::vector<LinkInfo>> list_links(Socket& sock) {
  std::vector<LinkInfo> out;
  ifinfomsg hdr{};
  hdr.ifi_family = AF_UNSPEC;
  auto ok = dump_msgs(
      sock, RTM_GETLINK, &hdr, sizeof(hdr), [&] { out.clear(); },
      [&](nl_msg* msg) {
        if (auto info = link_info_of(nlmsg_hdr(msg))) out.push_back(std::move(*info));
      },
      "list links");
  if (!ok) return fail(std::move(ok.error()));
  return out;
}

// ---- Changes

Expected<void> set_link_up(Socket& sock, int ifindex, bool up) {
  // ifi_change = IFF_UP touches only that flag; the link's other flags stay as they are.
  return change_link(sock, ifindex,
                     {.flags = up ? static_cast<unsigned>(IFF_UP) : 0u, .change = IFF_UP}, nullptr,
                     "set link " + ifindex_str(ifindex) + (up ? " up" : " down"));
}

Expected<void> detail::check_alias(std::string_view alias, const std::string& what) {
  if (alias.size() >= IFALIASZ || alias.find('\0') != std::string_view::npos) {
    return fail(cni::sys_error(EINVAL, what, cni::Code::kInvalidConfig));
  }
  return {};
}

namespace {

std::string address_conf_what(int ifindex) {
  return "set address settings of link " + ifindex_str(ifindex);
}

}  // namespace

Expected<MessageBytes> address_conf_request(int ifindex, const AddressConf& conf) {
  const std::string what = address_conf_what(ifindex);
  const unsigned up = conf.up ? static_cast<unsigned>(IFF_UP) : 0u;
  const auto alias = conf.alias.empty() ? std::nullopt : std::optional<std::string>(conf.alias);
  if (alias) {
    if (auto ok = check_alias(*alias, what); !ok) return fail(std::move(ok.error()));
  }
  const LinkAttrs attrs{.alias = alias, .arp_notify = conf.arp_notify,
                        .ipv6_no_lladdr = conf.no_ipv6_lladdr, .flags = up, .change = up};
  return link_request(RTM_NEWLINK, 0, ifindex, attrs, nullptr, what);
}

Expected<void> set_address_conf(Socket& sock, int ifindex, const AddressConf& conf) {
  const std::string what = address_conf_what(ifindex);
  auto ok = send_link_request(sock, address_conf_request(ifindex, conf), what);
  // EAFNOSUPPORT: the kernel runs without IPv6 (ipv6.disable=1), so there is none to turn off.
  if (!ok && ok.error().sys_errno == EAFNOSUPPORT && conf.no_ipv6_lladdr) {
    AddressConf without = conf;
    without.no_ipv6_lladdr = false;
    if (!without.arp_notify && without.alias.empty() && !without.up) return {};
    return send_link_request(sock, address_conf_request(ifindex, without), what);
  }
  return ok;
}

Expected<void> set_promisc(Socket& sock, int ifindex, bool on) {
  // Like `ip link set promisc on`: the kernel counts it as the user's (gflags), apart from the
  // promiscuity bridges and macvlans take on their ports.
  return change_link(
      sock, ifindex, {.flags = on ? static_cast<unsigned>(IFF_PROMISC) : 0u, .change = IFF_PROMISC},
      nullptr, "set link " + ifindex_str(ifindex) + " promisc " + (on ? "on" : "off"));
}

Expected<void> set_master(Socket& sock, int ifindex, int master_ifindex) {
  return change_link(sock, ifindex, {.master = master_ifindex}, nullptr,
                     "set master of link " + ifindex_str(ifindex) + " to " +
                         (master_ifindex ? ifindex_str(master_ifindex) : "none"));
}

Expected<void> set_mtu(Socket& sock, int ifindex, uint32_t mtu) {
  return change_link(sock, ifindex, {.mtu = mtu}, nullptr,
                     "set mtu of link " + ifindex_str(ifindex) + " to " + std::to_string(mtu));
}

Expected<void> set_mac(Socket& sock, int ifindex, const net::Mac& mac) {
  return change_link(sock, ifindex, {.mac = mac}, nullptr,
                     "set mac of link " + ifindex_str(ifindex) + " to " + mac.str());
}

Expected<void> set_link_alias(Socket& sock, int ifindex, std::string_view alias) {
  const std::string what = "set alias of link " + ifindex_str(ifindex) + " to " + quoted(alias);
  if (auto ok = check_alias(alias, what); !ok) return ok;
  return change_link(sock, ifindex, {.alias = std::string(alias)}, nullptr, what);
}

Expected<void> rename_link(Socket& sock, int ifindex, std::string_view new_name) {
  const std::string what = "rename link " + ifindex_str(ifindex) + " to " + quoted(new_name);
  if (auto ok = check_ifname(new_name, what); !ok) return ok;
  return change_link(sock, ifindex, {.name = std::string(new_name)}, nullptr, what);
}

namespace {

// After a move-and-rename failed: do_setlink moves the link first, under its current name, and
// renames it after (__dev_change_net_namespace, then dev_change_name), so a taken new name can
// fail with the link already in ns. Brings it back under its name, up again if it was.
Expected<void> undo_partial_move(Socket& sock, const LinkInfo& before, const netns::Handle& ns) {
  if (auto still = get_link(sock, before.index); still && still->name == before.name) {
    return {};  // refused before the move (its name was taken in ns too)
  }
  auto target = Socket::open_in(ns);
  if (!target) return fail(std::move(target.error()));
  auto there = get_link(*target, before.name);
  if (!there && there.error().sys_errno == ENODEV) return {};  // not there: nothing to undo
  if (!there) return fail(std::move(there.error()));
  if (there->mac != before.mac || there->kind != before.kind) return {};  // another link
  auto home = netns_of(sock);
  if (!home) return fail(std::move(home.error()));
  if (auto ok = change_link(*target, there->index, {.netns_fd = home->get()}, nullptr,
                            "move link " + quoted(before.name) + " back");
      !ok) {
    return ok;
  }
  if (!before.up) return {};
  // Its ifindex may differ here now, if another link took it meanwhile.
  auto back = get_link(sock, before.name);
  if (!back) return fail(std::move(back.error()));
  return set_link_up(sock, back->index, true);
}

}  // namespace

Expected<void> move_link_to_netns(Socket& sock, int ifindex, const netns::Handle& ns,
                                  std::optional<std::string> new_name) {
  std::string what = "move link " + ifindex_str(ifindex) + " to netns " + quoted(ns.path());
  if (!new_name) return change_link(sock, ifindex, {.netns = &ns}, nullptr, what);
  what += " as " + quoted(*new_name);
  if (auto ok = check_ifname(*new_name, what); !ok) return ok;
  // What a failed rename needs to undo the move: the name and state it had here.
  auto before = get_link(sock, ifindex);
  if (!before) return fail(std::move(before.error()).context(what));
  auto moved =
      change_link(sock, ifindex, {.name = std::move(new_name), .netns = &ns}, nullptr, what);
  if (moved) return moved;
  if (auto undo = undo_partial_move(sock, *before, ns); !undo) {
    moved.error().details =
        "and could not move " + quoted(before->name) + " back from there: " + undo.error().msg;
  }
  return moved;
}

// ---- Deleting

Expected<void> del_link(Socket& sock, std::string_view name) {
  const std::string what = "delete link " + quoted(name);
  if (auto ok = check_ifname(name, what); !ok) return ok;
  auto msg = link_request(RTM_DELLINK, 0, 0, {.name = std::string(name)}, nullptr, what);
  if (!msg) return fail(std::move(msg.error()));
  if (int err = request(sock, *msg); err != 0 && err != ENODEV) {
    return fail(cni::sys_error(err, what));
  }
  return {};
}

Expected<void> del_link(Socket& sock, int ifindex) {
  const std::string what = "delete link " + ifindex_str(ifindex);
  auto msg = link_request(RTM_DELLINK, 0, ifindex, {}, nullptr, what);
  if (!msg) return fail(std::move(msg.error()));
  if (int err = request(sock, *msg); err != 0 && err != ENODEV) {
    return fail(cni::sys_error(err, what));
  }
  return {};
}

}  // namespace weir::netlink
