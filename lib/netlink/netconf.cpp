// RTM_GETNETCONF: a netns's forwarding switch without a path walk under /proc/sys.
#include <linux/netconf.h>
#include <linux/rtnetlink.h>

#include <cerrno>

#include "lib/netlink/internal.hpp"

namespace weir::netlink {

using namespace detail;  // this file is part of lib/netlink

namespace {

struct Reply {
  bool seen = false;
  int forwarding = -1;
};

int on_netconf(nl_msg* msg, void* arg) {
  auto* reply = static_cast<Reply*>(arg);
  nlmsghdr* hdr = nlmsg_hdr(msg);
  if (hdr->nlmsg_type != RTM_NEWNETCONF) return NL_SKIP;
  nlattr* tb[NETCONFA_MAX + 1] = {};
  if (nlmsg_parse(hdr, sizeof(netconfmsg), tb, NETCONFA_MAX, nullptr) < 0) return NL_SKIP;
  reply->seen = true;
  if (tb[NETCONFA_FORWARDING] != nullptr) reply->forwarding = nla_get_s32(tb[NETCONFA_FORWARDING]);
  return NL_OK;
}

}  // namespace

Expected<bool> forwarding(Socket& sock, net::Family family) {
  const std::string what =
      std::string("read ") + (family == net::Family::kV4 ? "IPv4" : "IPv6") + " forwarding";
  netconfmsg ncm{};
  ncm.ncm_family = static_cast<unsigned char>(to_af(family));
  // The kernel answers, then acknowledges (NLM_F_ACK): both are read below.
  MsgPtr msg = new_msg(RTM_GETNETCONF, NLM_F_REQUEST | NLM_F_ACK, &ncm, sizeof(ncm));
  if (!msg || nla_put_s32(msg.get(), NETCONFA_IFINDEX, NETCONFA_IFINDEX_ALL) < 0) return fail(nomem(what));
  Reply reply;
  auto ok = get_one(sock, std::move(msg), [&](nl_msg* answer) { on_netconf(answer, &reply); }, what);
  if (!ok) return fail(std::move(ok.error()));
  if (!reply.seen || reply.forwarding < 0) {
    return fail(cni::sys_error(EPROTO, what + ": no forwarding in the kernel's answer"));
  }
  return reply.forwarding != 0;
}

}  // namespace weir::netlink
