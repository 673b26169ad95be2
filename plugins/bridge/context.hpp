// One verb on one attachment: what its steps work with, in one place instead of long parameter
// lists. Built by the verb (verbs.cpp) once it has parsed the config and has its services.
#pragma once

#include "lib/cni/plugin.hpp"
#include "lib/cni/rollback.hpp"
#include "lib/netlink/netlink.hpp"
#include "lib/netns/netns.hpp"
#include "lib/store/store.hpp"
#include "plugins/bridge/config.hpp"
#include "plugins/bridge/lock.hpp"
#include "plugins/common/services.hpp"

namespace weir::plugins::bridge {

struct Context {
  const cni::Call& call;
  const BridgeConfig& cfg;
  Services& services;     // where the call runs (services.hpp)
  store::Store& store;    // the network's, from `services`
  netlink::Socket& host;  // in the host's netns, where the bridge is
};

// ADD's, beyond that. The undos pushed must not capture the context itself (it dies before
// `undo` runs them): they capture what it refers to.
struct AddContext : Context {
  const netns::Handle& netns;  // the container's
  netlink::Socket& container;  // in the container's netns
  BridgeLock& lock;            // held shared until the endpoint is stored
  cni::Rollback& undo;
};

}  // namespace weir::plugins::bridge
