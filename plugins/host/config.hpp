// weir-host's config. Without `device` or `hwaddr`: host networking. With one of them: the
// reference host-device plugin's mode (device, hwaddr, ipam; kernelpath and pciBusID are refused
// with code 2).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lib/cni/plugin.hpp"
#include "lib/net/addr.hpp"

namespace weir::plugins::host {

struct HostConfig {
  std::string device;              // host-device mode: the host link by name
  std::optional<net::Mac> hwaddr;  // host-device mode: the host link by MAC
  bool ipam = false;               // device mode only
  std::string data_dir;  // the store's folder (store_dir_of): `dataDir`, else weir-ipam's
  std::vector<std::string> aliases;

  bool device_mode() const { return !device.empty() || hwaddr.has_value(); }
};

Expected<HostConfig> parse_config(const cni::Call& call);

}  // namespace weir::plugins::host
