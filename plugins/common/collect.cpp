#include "plugins/common/collect.hpp"

#include <algorithm>

#include "plugins/common/embedded_dns.hpp"
#include "plugins/common/endpoints.hpp"

namespace weir::plugins {

Expected<void> collect_endpoints(store::Store& st, const cni::Call& call,
                                 const std::vector<cni::Attachment>& valid,
                                 const std::string& data_dir, const Cleanup& cleanup) {
  auto eps = list_endpoints(st, call.conf.name);
  if (!eps) return fail(eps.error());
  bool dns = false;
  for (const auto& ep : *eps) {
    cni::Attachment a{ep.container_id, ep.ifname};
    if (std::find(valid.begin(), valid.end(), a) != valid.end()) continue;
    if (auto ok = cleanup(ep); !ok) return ok;
    if (auto ok = forget_endpoint(st, ep.network, ep.container_id, ep.ifname); !ok) return ok;
    dns = dns || dns_endpoint(ep.extra);
  }
  return dns ? sync_dns(data_dir, false) : Expected<void>{};
}

}  // namespace weir::plugins
