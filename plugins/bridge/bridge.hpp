#pragma once

#include "lib/cni/plugin.hpp"
#include "plugins/common/services.hpp"

namespace weir::plugins::bridge {

// weir-bridge: a docker0-style bridge with a veth pair per container, NAT, isolation and
// published ports. Each verb asks `services_for` for the services of its config's data dir and
// store (services.hpp): a plugin process's, or those weir-agent lends for the SQLite store of
// the data dir it serves.
cni::Verbs verbs(ServicesFor services_for = process_services);

}  // namespace weir::plugins::bridge
