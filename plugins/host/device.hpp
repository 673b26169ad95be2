// Host-device mode: a host link moves into the container under CNI_IFNAME, with its original
// name kept in its alias ("weir-host-device:<name>"), optionally addressed by IPAM; DEL moves it
// back under that name.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lib/cni/plugin.hpp"
#include "lib/netns/netns.hpp"
#include "lib/store/store.hpp"
#include "plugins/common/store_open.hpp"
#include "plugins/host/config.hpp"

namespace weir::plugins::host {

inline constexpr std::string_view kAliasPrefix = "weir-host-device:";

// `st`: the network's store, which the in-process IPAM shares.
Expected<cni::Result> add_device(const cni::Call& call, const HostConfig& cfg,
                                 const NetworkStore& st);

// Moves the device back from the attachment's netns (found by CNI_IFNAME and our alias); done
// when it is gone. `record` gives the alias and up state to restore. Without the netns: a
// physical device is back in the initial netns already (the kernel returns it when the netns
// goes, default_device_exit, as "dev%d" if its name is taken), where it is found by alias and
// renamed; a virtual one (a veth, as in the tests) died with the netns.
Expected<void> release_device(const std::string& netns_path, const std::string& ifname,
                              const std::optional<store::Endpoint>& record);

Expected<void> check_device(const cni::Call& call, const store::Endpoint& ep,
                            const NetworkStore& st);

}  // namespace weir::plugins::host
