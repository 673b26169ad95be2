// weir-agent's control socket (agent.sock in its data dir): one request per connection, from
// root or the agent's own user. A "sync" (client/control.hpp) or a plugin call
// (proto/frame.hpp), which the plugin host runs.
#pragma once

#include <cstdint>
#include <string>

#include "lib/cni/error.hpp"
#include "lib/cni/fd.hpp"

namespace weir::agent {

class DnsService;
class PluginHost;

// Binds and listens on path (a stale socket there is removed: the caller holds the agent lock).
Expected<UniqueFd> listen_control(const std::string& path);

// Whether the process at the other end of conn is root or our own user (SO_PEERCRED).
bool peer_trusted(int conn);

struct ControlServer {
  DnsService& dns;
  PluginHost& host;
  std::string own_netns;  // client/call.hpp: netns_id()
  std::string own_ns;     // client/call.hpp: namespaces_id()
  uint64_t generation = 0;

  // Reads one request from conn and answers it. Returns whether it rebuilt the zone (and so
  // left scratch memory behind).
  bool serve(int conn);
};

}  // namespace weir::agent
