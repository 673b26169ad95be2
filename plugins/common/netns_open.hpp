#pragma once

#include <string>

#include "lib/netns/netns.hpp"

namespace weir::plugins {

// Opens the container's netns. A path that does not exist names a container that does not
// exist: spec code 3, with the path in the message.
Expected<netns::Handle> open_container_netns(const std::string& path);

}  // namespace weir::plugins
