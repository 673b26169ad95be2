// Neighbour (ARP/NDP) and FDB entries: RTM_NEWNEIGH / RTM_DELNEIGH.
#include <linux/neighbour.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "lib/netlink/internal.hpp"

namespace weir::netlink {

using namespace detail;  // this file is part of lib/netlink

namespace {

struct NeighReq {
  int type = RTM_NEWNEIGH;
  int flags = 0;
  int family = AF_UNSPEC;
  int ifindex = 0;
  uint16_t state = 0;
  uint8_t ntf = 0;  // NTF_* flags
  const net::IpAddr* dst = nullptr;
  const net::Mac* lladdr = nullptr;
};

// 0, or the errno of the kernel's answer.
Expected<int> send_neigh(Socket& sock, const NeighReq& r, std::string_view what) {
  ndmsg ndm{};
  ndm.ndm_family = static_cast<uint8_t>(r.family);
  ndm.ndm_ifindex = r.ifindex;
  ndm.ndm_state = r.state;
  ndm.ndm_flags = r.ntf;
  MsgPtr msg = new_msg(r.type, r.flags, &ndm, sizeof(ndm));
  if (!msg) return fail(nomem(what));
  if (r.dst && nla_put(msg.get(), NDA_DST, static_cast<int>(r.dst->size()), r.dst->data()) < 0) {
    return fail(nomem(what));
  }
  if (r.lladdr && nla_put(msg.get(), NDA_LLADDR, 6, r.lladdr->data()) < 0) {
    return fail(nomem(what));
  }
  return request(sock, std::move(msg));
}

// ENOENT: no such entry; ENODEV: its link, and so the entry, is gone.
bool gone(int err) {
  return err == ENOENT || err == ENODEV;
}

}  // namespace

Expected<void> replace_neigh(Socket& sock, int ifindex, const net::IpAddr& ip,
                             const net::Mac& mac) {
  const std::string what =
      "replace neighbour " + ip.str() + " lladdr " + mac.str() + " on " + ifindex_str(ifindex);
  auto err = send_neigh(sock,
                        {.flags = NLM_F_CREATE | NLM_F_REPLACE,
                         .family = to_af(ip.family()),
                         .ifindex = ifindex,
                         .state = NUD_PERMANENT,
                         .dst = &ip,
                         .lladdr = &mac},
                        what);
  if (!err) return fail(std::move(err.error()));
  if (*err != 0) return fail(cni::sys_error(*err, what));
  return {};
}

Expected<void> del_neigh(Socket& sock, int ifindex, const net::IpAddr& ip) {
  const std::string what = "delete neighbour " + ip.str() + " on " + ifindex_str(ifindex);
  auto err = send_neigh(
      sock, {.type = RTM_DELNEIGH, .family = to_af(ip.family()), .ifindex = ifindex, .dst = &ip},
      what);
  if (!err) return fail(std::move(err.error()));
  if (*err != 0 && !gone(*err)) return fail(cni::sys_error(*err, what));
  return {};
}

Expected<void> replace_fdb(Socket& sock, int ifindex, const net::Mac& mac,
                           const net::IpAddr& vtep) {
  const std::string what =
      "replace fdb entry " + mac.str() + " dst " + vtep.str() + " on " + ifindex_str(ifindex);
  // As `bridge fdb replace ... self permanent`: NTF_SELF addresses the device's own FDB (the
  // vxlan's remotes), not the bridge it may be a port of. NLM_F_REPLACE swaps the entry's
  // remote instead of adding a second one.
  auto err = send_neigh(sock,
                        {.flags = NLM_F_CREATE | NLM_F_REPLACE,
                         .family = AF_BRIDGE,
                         .ifindex = ifindex,
                         .state = NUD_NOARP | NUD_PERMANENT,
                         .ntf = NTF_SELF,
                         .dst = &vtep,
                         .lladdr = &mac},
                        what);
  if (!err) return fail(std::move(err.error()));
  if (*err != 0) return fail(cni::sys_error(*err, what));
  return {};
}

Expected<void> del_fdb(Socket& sock, int ifindex, const net::Mac& mac,
                       std::optional<net::IpAddr> vtep) {
  std::string what = "delete fdb entry " + mac.str();
  if (vtep) what += " dst " + vtep->str();
  what += " on " + ifindex_str(ifindex);
  auto err = send_neigh(sock,
                        {.type = RTM_DELNEIGH,
                         .family = AF_BRIDGE,
                         .ifindex = ifindex,
                         .ntf = NTF_SELF,
                         .dst = vtep ? &*vtep : nullptr,
                         .lladdr = &mac},
                        what);
  if (!err) return fail(std::move(err.error()));
  if (*err != 0 && !gone(*err)) return fail(cni::sys_error(*err, what));
  return {};
}

}  // namespace weir::netlink
