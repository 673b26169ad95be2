#include "plugins/host/config.hpp"

#include "lib/cni/fields.hpp"
#include "plugins/common/endpoints.hpp"
#include "plugins/common/ipam_client.hpp"

namespace weir::plugins::host {

using nlohmann::json;
namespace fields = cni::fields;

Expected<HostConfig> parse_config(const cni::Call& call) {
  const json& j = call.conf.raw;
  HostConfig c;
  auto device = fields::get_string(j, "", "device");
  if (!device) return fail(device.error());
  if (*device) {
    if (auto ok = cni::validate_ifname(**device); !ok) {
      return fail(cni::invalid_config("\"device\": " + ok.error().msg));
    }
    c.device = **device;
  }
  auto hwaddr = fields::get_mac(j, "", "hwaddr");
  if (!hwaddr) return fail(hwaddr.error());
  c.hwaddr = *hwaddr;
  if (!c.device.empty() && c.hwaddr) {
    return fail(cni::invalid_config("give one of \"device\" and \"hwaddr\", not both"));
  }
  // The reference host-device's PCI and sysfs lookups: weir finds links by name or MAC only.
  for (const char* key : {"kernelpath", "pciBusID"}) {
    if (j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty()) {
      return fail(
          cni::unsupported_field(cni::quoted(key) +
                                 " is not supported by weir-host; use \"device\" or \"hwaddr\""));
    }
  }
  const json& rc = call.conf.runtime_config;
  if (rc.is_object() && rc.contains("deviceID") && rc["deviceID"].is_string() &&
      !rc["deviceID"].get<std::string>().empty()) {
    return fail(cni::unsupported_field(
        "\"runtimeConfig.deviceID\" is not supported by weir-host; use \"device\" or \"hwaddr\""));
  }

  auto ipam = has_ipam_section(call.conf);
  if (!ipam) return fail(ipam.error());
  c.ipam = *ipam;
  if (c.ipam && !c.device_mode()) {
    return fail(
        cni::invalid_config("\"ipam\" needs \"device\" or \"hwaddr\": a host-networked container "
                            "uses the host's own addresses"));
  }
  auto aliases = parse_aliases(call.conf);
  if (!aliases) return fail(aliases.error());
  c.aliases = std::move(*aliases);
  auto data_dir = store_dir_of(call.conf);
  if (!data_dir) return fail(data_dir.error());
  c.data_dir = std::move(*data_dir);
  return c;
}

}  // namespace weir::plugins::host
