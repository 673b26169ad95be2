#include "plugins/macvlan/config.hpp"

#include "plugins/common/requested_mac.hpp"

#include <net/if.h>

#include "lib/cni/fields.hpp"
#include "plugins/common/embedded_dns.hpp"
#include "plugins/common/endpoints.hpp"
#include "plugins/common/ipam_client.hpp"

namespace weir::plugins::macvlan {

using nlohmann::json;
namespace fields = cni::fields;

namespace {

Expected<void> read_mac(const cni::Call& call, MacvlanConfig& c) {
  auto mac = requested_mac(call);
  if (!mac) return fail(mac.error());
  c.mac = *mac;
  // The kernel gives a passthru child the master's own address and ignores the one asked for.
  if (c.mac && c.mode == netlink::MacvlanMode::kPassthru) {
    return fail(cni::invalid_config(
        "\"mac\" cannot be set in passthru mode: the container gets the master's MAC"));
  }
  return {};
}

}  // namespace

Expected<MacvlanConfig> parse_config(const cni::Call& call) {
  const json& j = call.conf.raw;
  MacvlanConfig c;
  auto master = fields::get_string(j, "", "master");
  if (!master) return fail(master.error());
  if (*master && !(*master)->empty()) {
    if (auto ok = cni::validate_ifname(**master); !ok) {
      return fail(cni::invalid_config("\"master\": " + ok.error().msg));
    }
    c.master = **master;
  }
  auto mode = fields::get_string(j, "", "mode");
  if (!mode) return fail(mode.error());
  if (*mode && !(*mode)->empty()) {
    auto m = netlink::parse_macvlan_mode(**mode);
    if (!m) return fail(std::move(m.error()).context("\"mode\""));
    c.mode = *m;
  }
  auto mtu = fields::get_int(j, "", "mtu", 0, 65535);
  if (!mtu) return fail(mtu.error());
  if (*mtu && **mtu != 0 && **mtu < 68) {
    return fail(cni::invalid_config("\"mtu\" must be at least 68 (the IPv4 minimum), not " +
                                    std::to_string(**mtu)));
  }
  c.mtu = static_cast<uint32_t>(mtu->value_or(0));
  for (auto [key, into] :
       {std::pair{"linkInContainer", &c.link_in_container}, {"embeddedDNS", &c.embedded_dns}}) {
    auto v = fields::get_bool(j, "", key);
    if (!v) return fail(v.error());
    if (*v) *into = **v;
  }
  if (auto ok = read_mac(call, c); !ok) return fail(ok.error());
  auto servers = parse_dns_servers(j);
  if (!servers) return fail(servers.error());
  c.dns_servers = std::move(*servers);
  auto aliases = parse_aliases(call.conf);
  if (!aliases) return fail(aliases.error());
  c.aliases = std::move(*aliases);

  auto data_dir = store_dir_of(call.conf);
  if (!data_dir) return fail(data_dir.error());
  c.data_dir = std::move(*data_dir);
  // No IPAM section means L2 only; one without a type is refused here, before any change.
  if (auto ipam = has_ipam_section(call.conf); !ipam) return fail(ipam.error());
  return c;
}

// The link of the default route (IPv4's, else IPv6's): the master when none is given.
Expected<netlink::LinkInfo> default_route_link(netlink::Socket& sock, const char* where) {
  auto routes = netlink::list_routes(sock);
  if (!routes) return fail(routes.error());
  for (net::Family f : {net::Family::kV4, net::Family::kV6}) {
    for (const auto& r : *routes) {
      if (!r.dst && r.family == f && r.ifindex > 0) return netlink::get_link(sock, r.ifindex);
    }
  }
  return fail(cni::invalid_config(std::string("no \"master\" given and ") + where +
                                  " has no default route to take it from"));
}

Expected<netlink::LinkInfo> resolve_master(netlink::Socket& sock, const MacvlanConfig& cfg) {
  const char* where = cfg.link_in_container ? "the container" : "the host";
  auto link = cfg.master.empty() ? default_route_link(sock, where) : netlink::get_link(sock, cfg.master);
  if (!link && link.error().sys_errno == ENODEV) {
    return fail(cni::invalid_config("master \"" + cfg.master + "\" does not exist in " + where));
  }
  if (!link) return fail(link.error());
  const std::string& name = link->name;
  if ((link->flags & IFF_LOOPBACK) || link->mac.is_zero()) {
    return fail(cni::invalid_config("master \"" + name + "\" is not an Ethernet link"));
  }
  if (cfg.mtu > link->mtu) {
    return fail(cni::invalid_config("\"mtu\" " + std::to_string(cfg.mtu) + " is more than the " +
                                    std::to_string(link->mtu) + " of master \"" + name + "\""));
  }
  return link;
}

}  // namespace weir::plugins::macvlan
