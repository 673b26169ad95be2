#include "plugins/bridge/config.hpp"

#include "lib/cni/fields.hpp"
#include "plugins/bridge/ports.hpp"
#include "plugins/common/embedded_dns.hpp"
#include "plugins/common/endpoints.hpp"
#include "plugins/common/ipam_client.hpp"
#include "plugins/common/requested_mac.hpp"

namespace weir::plugins::bridge {

using nlohmann::json;
namespace fields = cni::fields;

namespace {

// A bridge name is an interface name in the host: same kernel limits as CNI_IFNAME.
Expected<void> check_bridge_name(const std::string& name) {
  if (auto ok = cni::validate_ifname(name); !ok) {
    return fail(cni::invalid_config("\"bridge\": " + ok.error().msg));
  }
  return {};
}

Expected<void> read_bool(const json& j, const char* key, bool& into) {
  auto v = fields::get_bool(j, "", key);
  if (!v) return fail(v.error());
  if (*v) into = **v;
  return {};
}

Expected<void> parse_runtime_config(const cni::NetConf& conf, BridgeConfig& c) {
  const json& rc = conf.runtime_config;
  if (!rc.is_object()) return {};
  if (rc.contains("portMappings") && !rc["portMappings"].is_null()) {
    if (!rc["portMappings"].is_array()) {
      return fail(cni::invalid_config("\"runtimeConfig.portMappings\" must be a list"));
    }
    for (size_t i = 0; i < rc["portMappings"].size(); ++i) {
      const std::string where = "runtimeConfig.portMappings[" + std::to_string(i) + "]";
      auto m = parse_port(rc["portMappings"][i], where);
      if (!m) return fail(m.error());
      for (const auto& earlier : c.ports) {
        if (ports_overlap(*m, earlier)) {
          return fail(cni::invalid_config("\"" + where + "\" publishes host port " +
                                          describe(*m) + " a second time"));
        }
      }
      c.ports.push_back(*m);
    }
  }
  return {};
}

}  // namespace

Expected<PortMapping> parse_port(const json& p, const std::string& where) {
  if (!p.is_object()) return fail(cni::invalid_config("\"" + where + "\" must be an object"));
  PortMapping m;
  auto host = fields::get_int(p, where, "hostPort", 1, 65535);
  if (!host) return fail(host.error());
  auto ctr = fields::get_int(p, where, "containerPort", 1, 65535);
  if (!ctr) return fail(ctr.error());
  if (!*host || !*ctr) {
    return fail(cni::invalid_config("\"" + where + "\" needs hostPort and containerPort"));
  }
  m.host_port = static_cast<uint16_t>(**host);
  m.container_port = static_cast<uint16_t>(**ctr);
  auto proto = fields::get_string(p, where, "protocol");
  if (!proto) return fail(proto.error());
  if (*proto) {
    m.protocol = **proto;
    for (auto& c : m.protocol) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (m.protocol != "tcp" && m.protocol != "udp") {
      return fail(cni::invalid_config(cni::quoted(fields::name(where, "protocol")) +
                                      " must be tcp or udp, not " + cni::quoted(**proto)));
    }
  }
  // hostIP "" and "0.0.0.0"/"::" all mean every host address.
  auto ip_text = fields::get_string(p, where, "hostIP");
  if (!ip_text) return fail(ip_text.error());
  if (*ip_text && !(*ip_text)->empty()) {
    auto ip = fields::get_ip(p, where, "hostIP");
    if (!ip) return fail(ip.error());
    if (!(*ip)->is_unspecified()) m.host_ip = **ip;
  }
  return m;
}


Expected<BridgeConfig> parse_config(const cni::Call& call) {
  const json& j = call.conf.raw;
  BridgeConfig c;
  auto bridge = fields::get_string(j, "", "bridge");
  if (!bridge) return fail(bridge.error());
  if (*bridge) c.bridge = **bridge;
  if (auto ok = check_bridge_name(c.bridge); !ok) return fail(ok.error());

  for (auto [key, into] : {std::pair{"isGateway", &c.is_gateway},
                           {"isDefaultGateway", &c.is_default_gateway},
                           {"ipMasq", &c.ip_masq},
                           {"hairpinMode", &c.hairpin},
                           {"promiscMode", &c.promisc},
                           {"forceAddress", &c.force_address},
                           {"macspoofchk", &c.macspoofchk},
                           {"icc", &c.icc},
                           {"internal", &c.internal},
                           {"embeddedDNS", &c.embedded_dns}}) {
    if (auto ok = read_bool(j, key, *into); !ok) return fail(ok.error());
  }
  // isDefaultGateway implies isGateway, as in the reference plugin.
  if (c.is_default_gateway) c.is_gateway = true;

  auto mtu = fields::get_int(j, "", "mtu", 0, 65535);
  if (!mtu) return fail(mtu.error());
  if (*mtu && **mtu != 0 && **mtu < 68) {
    return fail(cni::invalid_config("\"mtu\" must be at least 68 (the IPv4 minimum), not " +
                                    std::to_string(**mtu)));
  }
  c.mtu = static_cast<uint32_t>(mtu->value_or(0));
  // The kernel's own limit (rtnl_create_link).
  auto queues = fields::get_int(j, "", "vethQueues", 0, 4096);
  if (!queues) return fail(queues.error());
  c.veth_queues = static_cast<uint32_t>(queues->value_or(1));

  // isolation: "strict" (default) or "none"; booleans accepted for convenience.
  if (j.contains("isolation") && !j["isolation"].is_null()) {
    const json& iso = j["isolation"];
    if (iso.is_boolean()) {
      c.isolation = iso.get<bool>();
    } else if (iso.is_string() && (iso == "strict" || iso == "none")) {
      c.isolation = iso == "strict";
    } else {
      return fail(cni::invalid_config("\"isolation\" must be \"strict\" or \"none\""));
    }
  }

  // trustedHostInterfaces: ["eth1", …], interface names of the host.
  if (j.contains("trustedHostInterfaces") && !j["trustedHostInterfaces"].is_null()) {
    const json& t = j["trustedHostInterfaces"];
    if (!t.is_array()) {
      return fail(
          cni::invalid_config("\"trustedHostInterfaces\" must be a list of interface names"));
    }
    for (const json& name : t) {
      if (!name.is_string()) {
        return fail(
            cni::invalid_config("\"trustedHostInterfaces\" must be a list of interface names"));
      }
      if (auto ok = cni::validate_ifname(name.get<std::string>()); !ok) {
        return fail(cni::invalid_config("\"trustedHostInterfaces\": " + ok.error().msg));
      }
      c.trusted_interfaces.push_back(name.get<std::string>());
    }
  }

  // Reference fields weir does not implement are refused, not ignored (spec code 2).
  for (const char* key : {"vlan", "vlanTrunk"}) {
    if (j.contains(key) && !j[key].is_null() && j[key] != false && j[key] != 0) {
      return fail(cni::unsupported_field("\"" + std::string(key) + "\" is not supported by weir-bridge"));
    }
  }

  auto mac = requested_mac(call);
  if (!mac) return fail(mac.error());
  c.mac = *mac;
  auto servers = parse_dns_servers(j);
  if (!servers) return fail(servers.error());
  c.dns_servers = std::move(*servers);
  if (auto ok = parse_runtime_config(call.conf, c); !ok) return fail(ok.error());
  auto aliases = parse_aliases(call.conf);
  if (!aliases) return fail(aliases.error());
  c.aliases = std::move(*aliases);

  auto data_dir = store_dir_of(call.conf);
  if (!data_dir) return fail(data_dir.error());
  c.data_dir = std::move(*data_dir);
  auto backend = store::backend_for(call.conf.raw);
  if (!backend) return fail(backend.error());
  c.backend = std::move(*backend);
  // No IPAM section means L2 only; one without a type is refused here, before any change.
  auto ipam = has_ipam_section(call.conf);
  if (!ipam) return fail(ipam.error());
  if (!*ipam) c.ports.clear();  // without an address nothing is published

  if (c.internal) c.ip_masq = false;
  if (c.internal && !c.trusted_interfaces.empty()) {
    return fail(
        cni::invalid_config("\"trustedHostInterfaces\" opens an internal network to the outside: "
                            "use one or the other"));
  }
  return c;
}

}  // namespace weir::plugins::bridge
