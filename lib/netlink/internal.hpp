// Private to lib/netlink: libnl headers, RAII over libnl objects, errno translation and the
// shared RTM_NEWLINK machinery. Never include this outside lib/netlink (the build does not even
// give other targets libnl's include path).
#pragma once

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lib/netlink/message.hpp"
#include "lib/netlink/netlink.hpp"

namespace weir::netlink::detail {

// std::unique_ptr deleter calling a libnl free/put function.
template <auto Fn>
struct Free {
  template <class T>
  void operator()(T* p) const {
    if (p) Fn(p);
  }
};
using SockPtr = std::unique_ptr<nl_sock, Free<nl_socket_free>>;
using MsgPtr = std::unique_ptr<nl_msg, Free<nlmsg_free>>;
using CbPtr = std::unique_ptr<nl_cb, Free<nl_cb_put>>;
using AddrPtr = std::unique_ptr<nl_addr, Free<nl_addr_put>>;
using LinkPtr = std::unique_ptr<rtnl_link, Free<rtnl_link_put>>;

// libnl's NLE_* codes are not errno. Used only when the kernel did not answer with an errno of
// its own (then Socket::errno_of() has the exact one).
int nle_to_errno(int nle);

using cni::quoted;
std::string ifindex_str(int ifindex);  // "ifindex 7", for messages
int to_af(net::Family f);
std::optional<net::IpAddr> to_ip(nl_addr* a);
AddrPtr to_nl_addr(const net::IpAddr& ip, int prefix_len);

cni::Error nomem(std::string_view what);

// The kernel's dev_valid_name(), checked here so that a bad name from a config fails as a
// config error (Code::kInvalidConfig, EINVAL) naming it, not as a kernel one.
Expected<void> check_ifname(std::string_view name, std::string_view what);
// A failed libnl call on sock, as an Error with the right errno.
cni::Error nl_error(Socket& sock, int rc, std::string_view what);

// A dump request (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, ...) with family header hdr, whose
// replies libnl parses into objects handed to on_object; a dump is the only way the kernel
// lists these. A dump that raced with a change (NLM_F_DUMP_INTR) is retried, with `restart`
// run before each attempt (to drop what the last one collected).
Expected<void> dump(Socket& sock, int type, const void* hdr, size_t hdr_len,
                    const std::function<void()>& restart,
                    const std::function<void(nl_object*)>& on_object, std::string_view what);
// The same, each reply handed over as the kernel sent it.
Expected<void> dump_msgs(Socket& sock, int type, const void* hdr, size_t hdr_len,
                         const std::function<void()>& restart,
                         const std::function<void(nl_msg*)>& on_msg, std::string_view what);
// Sends a request that the kernel answers with one message (a GET of one object), hands the
// answer to on_msg, and reads the ACK that follows it.
Expected<void> get_one(Socket& sock, MsgPtr msg, const std::function<void(nl_msg*)>& on_msg,
                       std::string_view what);

// Sends msg and waits for the kernel's ACK; returns the libnl code.
int send_sync(Socket& sock, MsgPtr msg);
// Sends msg and waits for the ACK; returns 0 or the errno (the kernel's own when it sent one).
int request(Socket& sock, MsgPtr msg);
// The same for a request built as bytes (message.hpp), sent as it is.
int request(Socket& sock, const MessageBytes& msg);
// The bytes of a built message, for a *_request() builder of message.hpp.
MessageBytes bytes_of(nl_msg* msg);

// A message of `type` with `flags` and the family header hdr, or nullptr. (The socket adds
// NLM_F_REQUEST and NLM_F_ACK when it sends.)
MsgPtr new_msg(int type, int flags, const void* hdr, size_t hdr_len);

// Opens a nested attribute with NLA_F_NESTED set: the kernel's strict parsers (IFLA_PROTINFO
// of AF_BRIDGE, for one) only take the new nested format when the flag is there.
nlattr* nest_start(nl_msg* msg, int type);

// IFLA_MACVLAN_MODE as a MacvlanMode (link_macvlan.cpp); nullopt for "source" and unknowns.
std::optional<MacvlanMode> macvlan_mode_from(uint32_t mode);
// One RTM_GETLINK by ifindex (name = nullptr) or by name, without statistics; also_msg, when
// set, gets the answer as sent (for a kind's own attributes: link_vxlan.cpp).
Expected<LinkInfo> fetch_link(Socket& sock, int ifindex, const char* name, std::string_view what,
                              const std::function<void(nl_msg*)>& also_msg = {});

// An alias the kernel takes (under IFALIASZ bytes, no NUL); else code 7 with `what`.
Expected<void> check_alias(std::string_view alias, const std::string& what);

// Generic link attributes of an RTM_NEWLINK, shared by creation, changes and the veth peer.
// Unset members are not sent.
struct LinkAttrs {
  std::optional<std::string> name{};     // IFLA_IFNAME
  std::optional<uint32_t> mtu{};         // IFLA_MTU
  std::optional<net::Mac> mac{};         // IFLA_ADDRESS
  const netns::Handle* netns = nullptr;  // IFLA_NET_NS_FD: create in / move to this netns
  int netns_fd = -1;                     // IFLA_NET_NS_FD by bare fd, when netns is unset
  std::optional<int> parent{};           // IFLA_LINK: lower device (macvlan)
  std::optional<int> master{};           // IFLA_MASTER: 0 = release from its master
  uint32_t queues = 0;                   // IFLA_NUM_TX_QUEUES and _RX_: at creation; 0: default
  std::optional<std::string> alias{};    // IFLA_IFALIAS: "" removes it
  std::optional<bool> arp_notify{};      // IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF: ARP_NOTIFY
  bool ipv6_no_lladdr = false;           // IFLA_AF_SPEC/AF_INET6: IN6_ADDR_GEN_MODE_NONE
  unsigned flags = 0;                    // ifi_flags
  unsigned change = 0;                   // ifi_change: which of flags to apply
};

// A link kind's own part of an RTM_NEWLINK: IFLA_INFO_KIND and what goes in IFLA_INFO_DATA.
// fill_data (may be empty) puts the kind's attributes into the already opened IFLA_INFO_DATA
// and returns a libnl code. This is all a link_<kind>.cpp file contributes to a request.
struct LinkKind {
  std::string_view kind;
  std::function<int(nl_msg*)> fill_data{};
};

// An ifinfomsg followed by the attributes of `a`. Used for the request and for the veth peer.
int put_ifinfo(nl_msg* msg, int family, int ifindex, const LinkAttrs& a);
int put_link_attrs(nl_msg* msg, const LinkAttrs& a);
// IFLA_LINKINFO { IFLA_INFO_KIND, IFLA_INFO_DATA { kind.fill_data } }.
int put_link_info(nl_msg* msg, const LinkKind& kind);

// The one builder of RTM_NEWLINK and RTM_DELLINK (family AF_UNSPEC): ifinfomsg, attrs, and the
// kind's IFLA_LINKINFO when kind is given.
Expected<MessageBytes> link_request(int type, int flags, int ifindex, const LinkAttrs& attrs,
                                    const LinkKind* kind, std::string_view what);
// RTM_NEWLINK with NLM_F_CREATE|NLM_F_EXCL, as link_request builds it.
Expected<MessageBytes> create_request(const LinkAttrs& attrs, const LinkKind& kind,
                                      std::string_view what);

// Sends a built RTM_NEWLINK: the kernel's errno is kept (EEXIST for a taken name, in the
// socket's netns or, for a veth peer, in the peer's).
Expected<void> send_link_request(Socket& sock, const Expected<MessageBytes>& req,
                                 std::string_view what);

// Creates a link directly in `netns` (IFLA_NET_NS_FD; nullptr: the socket's netns) under a
// unique temporary name, then renames it there to `name` with a socket in that netns. `build`
// makes the create request for a temporary name. The kernel resolves IFLA_LINK (a parent) in
// the socket's netns and checks names in the target, so a name taken in the socket's netns
// does not get in the way. Creating elsewhere and moving would not be atomic: do_setlink moves
// first under the old name and renames after, so a taken final name would strand the link in
// the target. On any failure after creation the link is deleted in the target, by ifindex. The
// request must not carry flags: the link is left down. Returns the link as seen in the target.
using BuildForName = std::function<Expected<MessageBytes>(std::string_view temp_name)>;
Expected<LinkInfo> create_link_renamed(Socket& sock, const std::string& name,
                                       const netns::Handle* netns, const BuildForName& build,
                                       std::string_view what);

// RTM_NEWLINK on an existing link (no NLM_F_CREATE): changes what `attrs` and `kind` carry.
Expected<void> change_link(Socket& sock, int ifindex, const LinkAttrs& attrs, const LinkKind* kind,
                           std::string_view what);

// A random unicast, locally administered MAC, like the kernel's eth_random_addr().
Expected<net::Mac> random_mac();

}  // namespace weir::netlink::detail
