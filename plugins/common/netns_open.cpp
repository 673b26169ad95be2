#include "plugins/common/netns_open.hpp"

namespace weir::plugins {

Expected<netns::Handle> open_container_netns(const std::string& path) {
  auto ns = netns::Handle::open(path);
  if (!ns && ns.error().sys_errno == ENOENT) {
    return fail(cni::unknown_container("netns \"" + path + "\" does not exist"));
  }
  return ns;
}

}  // namespace weir::plugins
