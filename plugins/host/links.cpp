#include "plugins/host/links.hpp"

#include <net/if.h>

#include <memory>

namespace weir::plugins::host {

Expected<std::vector<netlink::LinkInfo>> list_links(netlink::Socket& sock) {
  std::unique_ptr<struct if_nameindex, decltype(&if_freenameindex)> all(if_nameindex(),
                                                                        &if_freenameindex);
  if (!all) return fail(cni::sys_error(errno, "list the links"));
  std::vector<netlink::LinkInfo> out;
  for (const struct if_nameindex* i = all.get(); i->if_index != 0; ++i) {
    auto link = netlink::get_link(sock, static_cast<int>(i->if_index));
    if (!link && link.error().sys_errno == ENODEV) continue;  // gone since the dump
    if (!link) return fail(link.error());
    out.push_back(std::move(*link));
  }
  return out;
}

}  // namespace weir::plugins::host
