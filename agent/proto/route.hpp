// Which weir-agent may run a config's ADD and DEL, and what the two sides of a plugin call
// agree on (frame.hpp has the framing): freestanding, for the front end (plugins/front), which
// links no C library, and shared with the -local binaries, so that both pick the same agent.
//
// Who runs a call, all of it. A front end (weir-bridge, weir-ipam) forwards a call to the agent
// of a data dir when (1) its verb is forwarded (frame.hpp: ADD, DEL), (2) CNI_NETNS means the
// same namespace to another process (front.cpp: netns_path_portable), and (3) the config names
// an agent (below: agent_dir). The agent runs it when (4) it is complete and well formed, (5)
// it comes from the agent's own netns and mount namespace, and (6) the agent's binary was not
// replaced on disk (agent/control_server.cpp). Everything else runs in the -local binary, which
// on a successful ADD starts the agent (agent/client/control.hpp). Inside the agent, a bridge
// call borrows the agent's services only for the data dir the agent serves; another data dir's
// call runs there as a process would (plugins/common/services.hpp).
#pragma once

#include "agent/proto/json.hpp"
#include "lib/cni/vars.hpp"

namespace weir::agent::proto {

// A plugin whose ADD and DEL weir-agent runs.
struct Plugin {
  const char* request;       // the request word, without the version frame.hpp appends ("bridge2")
  const char* name;          // the plugin's name, in messages
  const char* local_binary;  // the plugin itself, next to the front end
  // The data dir whose agent may run this config's ADD and DEL, into dir; false when none may
  // (the call then runs in local_binary, which also reports what is wrong with a bad config).
  bool (*agent_dir)(const Json& conf, Text& dir);
};

// weir-ipam: the IPAM section's data dir (ipam.dataDir, else the plugin's dataDir, else the
// store's default folder) when it is absolute.
bool ipam_agent_dir(const Json& conf, Text& dir);
// weir-bridge: the data dir of the config's store, as store_dir_of finds it (`dataDir`, else
// weir-ipam's `ipam.dataDir`, else the default folder), when IPAM is weir-ipam (in-process) or
// none (`{}` or no section) and the folder is absolute. Another IPAM plugin is exec'd, which
// the calling process does.
bool bridge_agent_dir(const Json& conf, Text& dir);

inline constexpr Plugin kIpam{"ipam", "weir-ipam", "weir-ipam-local", ipam_agent_dir};
inline constexpr Plugin kBridge{"bridge", "weir-bridge", "weir-bridge-local", bridge_agent_dir};

// The CNI_* variables of a call: what the agent needs to run it as the local binary would.
using cni::kCallVariables;

// The control socket's file in the data dir.
inline constexpr char kSocketFile[] = "agent.sock";
// How long a caller waits for the agent's answer: longer than the store's busy timeout (10 s),
// which the agent may wait out as the plugin would, plus what may be queued before the call
// (a DNS sync of a big store).
inline constexpr long kCallTimeoutMs = 15'000;

// The file `name` in the data dir: "dir/name" (as store::data_file).
bool data_file(Bytes dir, const char* name, Text& path);

// The cniVersion an error is reported in: the config's, when it is one weir speaks, else the
// newest (as cni::version_for_errors).
const char* version_for_errors(const Json& conf);

}  // namespace weir::agent::proto
