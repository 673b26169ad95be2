#pragma once

#include <functional>
#include <string>

#include "lib/cni/plugin.hpp"

namespace weir::store {
class Store;
}
namespace weir::ipam {
struct Seams;
}

namespace weir::plugins::bridge {

// What weir-agent lends the verbs when it runs them itself (agent/agent.cpp): a plugin process
// passes none, opens the store on every call, asks the agent for a DNS sync over its socket
// and forks to delete a veth in the background.
struct Resident {
  std::string data_dir;           // the data dir the agent serves; the rest is for it alone
  store::Store* store = nullptr;  // its store, kept open between calls
  // Makes the agent serve what the store holds now (in-process: the agent runs this call).
  std::function<Expected<void>()> sync_dns;
  // Deletes link `ifindex` of the calling thread's netns in the background (link_reaper.hpp).
  std::function<Expected<void>(int ifindex)> delete_link_later;
  const ipam::Seams* ipam_seams = nullptr;  // the in-process IPAM's (the boot id read once)
};

// weir-bridge: a docker0-style bridge with a veth pair per container, NAT, isolation and
// published ports. `resident` (may be null) must outlive the verbs.
cni::Verbs verbs(const Resident* resident = nullptr);

}  // namespace weir::plugins::bridge
