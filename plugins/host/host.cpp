#include "plugins/host/host.hpp"

#include <algorithm>

#include "plugins/common/endpoints.hpp"
#include "plugins/common/ipam_client.hpp"
#include "plugins/common/collect.hpp"
#include "plugins/common/embedded_dns.hpp"
#include "plugins/common/store_open.hpp"
#include "plugins/host/config.hpp"
#include "plugins/host/device.hpp"
#include "plugins/host/hostnet.hpp"

namespace weir::plugins::host {

namespace {

// The mode ADD used, from the record; the config's when there is none.
bool recorded_device_mode(const std::optional<store::Endpoint>& ep, const HostConfig& cfg) {
  if (!ep) return cfg.device_mode();
  auto extra = nlohmann::json::parse(ep->extra, nullptr, false);
  return extra.is_object() && extra.value("mode", "") == "device";
}

Expected<cni::Result> cmd_add(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  if (auto ok = ipam_precheck(call); !ok) return fail(ok.error());
  auto store = open_store(call.conf, cfg->data_dir);
  if (!store) return fail(store.error());
  if (cfg->device_mode()) return add_device(call, *cfg, *store);
  return add_host_network(call, *cfg, **store);
}

// Host networking leaves only the record; device mode also moves the device back. Each step
// tolerates absence, so DEL is idempotent (the reference host-device's second DEL fails:
// containernetworking/plugins#1196).
Expected<void> cmd_del(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto store = open_store(call.conf, cfg->data_dir);
  if (!store) return fail(store.error());
  auto ep = load_endpoint(**store, call);
  if (!ep) return fail(ep.error());
  if (recorded_device_mode(*ep, *cfg)) {
    if (auto ok = release_device(call.env.netns, call.env.ifname, *ep); !ok) return ok;
    if (auto ok = ipam_del(call, store->ipam()); !ok) return ok;
  }
  if (auto ok = forget_endpoint(**store, call.conf.name, call.env.container_id, call.env.ifname); !ok) {
    return ok;
  }
  // Device mode registers no names: no agent round trip for it.
  if (*ep && dns_endpoint((*ep)->extra)) return sync_dns(cfg->data_dir, false);
  return {};
}

Expected<void> cmd_check(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto store = open_store(call.conf, cfg->data_dir);
  if (!store) return fail(store.error());
  if (!cfg->device_mode()) return check_host_network(call, **store);
  auto ep = require_endpoint(**store, call);
  if (!ep) return fail(ep.error());
  return check_device(call, *ep, *store);
}

Expected<void> cmd_status(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  return ipam_status(call);
}

Expected<void> cmd_gc(const cni::Call& call, const std::vector<cni::Attachment>& valid) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto store = open_store(call.conf, cfg->data_dir);
  if (!store) return fail(store.error());
  auto collected = collect_endpoints(**store, call, valid, cfg->data_dir, [&](const store::Endpoint& ep) {
    if (!recorded_device_mode(ep, *cfg)) return Expected<void>{};
    return release_device(ep.netns, ep.ifname, ep);
  });
  if (!collected) return collected;
  return ipam_gc(call, valid, store->ipam());
}

}  // namespace

cni::Verbs verbs() {
  return {.add = cmd_add, .del = cmd_del, .check = cmd_check, .status = cmd_status, .gc = cmd_gc};
}

}  // namespace weir::plugins::host
