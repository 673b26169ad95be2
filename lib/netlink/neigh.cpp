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

Expected<MessageBytes> neigh_request(const NeighReq& r, std::string_view what) {
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
  return bytes_of(msg.get());
}

// ENOENT: no such entry; ENODEV: its link, and so the entry, is gone.
bool gone(int err) {
  return err == ENOENT || err == ENODEV;
}

// Sends a built request; `tolerant`: a missing entry (or link) is success.
Expected<void> send(Socket& sock, const Expected<MessageBytes>& req, std::string_view what,
                    bool tolerant) {
  if (!req) return fail(req.error());
  const int err = request(sock, *req);
  if (err != 0 && !(tolerant && gone(err))) return fail(cni::sys_error(err, what));
  return {};
}

std::string replace_neigh_what(int ifindex, const net::IpAddr& ip, const net::Mac& mac) {
  return "replace neighbour " + ip.str() + " lladdr " + mac.str() + " on " + ifindex_str(ifindex);
}

std::string del_neigh_what(int ifindex, const net::IpAddr& ip) {
  return "delete neighbour " + ip.str() + " on " + ifindex_str(ifindex);
}

std::string replace_fdb_what(int ifindex, const net::Mac& mac, const net::IpAddr& vtep) {
  return "replace fdb entry " + mac.str() + " dst " + vtep.str() + " on " + ifindex_str(ifindex);
}

std::string del_fdb_what(int ifindex, const net::Mac& mac, const std::optional<net::IpAddr>& vtep) {
  std::string what = "delete fdb entry " + mac.str();
  if (vtep) what += " dst " + vtep->str();
  return what + " on " + ifindex_str(ifindex);
}

}  // namespace

Expected<MessageBytes> replace_neigh_request(int ifindex, const net::IpAddr& ip,
                                             const net::Mac& mac) {
  return neigh_request({.flags = NLM_F_CREATE | NLM_F_REPLACE,
                        .family = to_af(ip.family()),
                        .ifindex = ifindex,
                        .state = NUD_PERMANENT,
                        .dst = &ip,
                        .lladdr = &mac},
                       replace_neigh_what(ifindex, ip, mac));
}

Expected<MessageBytes> del_neigh_request(int ifindex, const net::IpAddr& ip) {
  return neigh_request(
      {.type = RTM_DELNEIGH, .family = to_af(ip.family()), .ifindex = ifindex, .dst = &ip},
      del_neigh_what(ifindex, ip));
}

Expected<MessageBytes> replace_fdb_request(int ifindex, const net::Mac& mac,
                                           const net::IpAddr& vtep) {
  // As `bridge fdb replace ... self permanent`: NTF_SELF addresses the device's own FDB (the
  // vxlan's remotes), not the bridge it may be a port of. NLM_F_REPLACE swaps the entry's
  // remote instead of adding a second one.
  return neigh_request({.flags = NLM_F_CREATE | NLM_F_REPLACE,
                        .family = AF_BRIDGE,
                        .ifindex = ifindex,
                        .state = NUD_NOARP | NUD_PERMANENT,
                        .ntf = NTF_SELF,
                        .dst = &vtep,
                        .lladdr = &mac},
                       replace_fdb_what(ifindex, mac, vtep));
}

Expected<MessageBytes> del_fdb_request(int ifindex, const net::Mac& mac,
                                       std::optional<net::IpAddr> vtep) {
  return neigh_request({.type = RTM_DELNEIGH,
                        .family = AF_BRIDGE,
                        .ifindex = ifindex,
                        .ntf = NTF_SELF,
                        .dst = vtep ? &*vtep : nullptr,
                        .lladdr = &mac},
                       del_fdb_what(ifindex, mac, vtep));
}

Expected<void> replace_neigh(Socket& sock, int ifindex, const net::IpAddr& ip,
                             const net::Mac& mac) {
  return send(sock, replace_neigh_request(ifindex, ip, mac), replace_neigh_what(ifindex, ip, mac),
              false);
}

Expected<void> del_neigh(Socket& sock, int ifindex, const net::IpAddr& ip) {
  return send(sock, del_neigh_request(ifindex, ip), del_neigh_what(ifindex, ip), true);
}

Expected<void> replace_fdb(Socket& sock, int ifindex, const net::Mac& mac,
                           const net::IpAddr& vtep) {
  return send(sock, replace_fdb_request(ifindex, mac, vtep), replace_fdb_what(ifindex, mac, vtep),
              false);
}

Expected<void> del_fdb(Socket& sock, int ifindex, const net::Mac& mac,
                       std::optional<net::IpAddr> vtep) {
  return send(sock, del_fdb_request(ifindex, mac, vtep), del_fdb_what(ifindex, mac, vtep), true);
}

}  // namespace weir::netlink
