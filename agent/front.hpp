// The plugin process of a plugin whose ADD and DEL weir-agent runs (weir-ipam, weir-bridge): a
// front end that starts in a fraction of the plugin's own time, because it links no SQLite,
// libnl or iostreams (their start-up is much of a short call).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agent/call.hpp"

namespace weir::agent {

struct FrontEnd {
  AgentPlugin plugin;
  // The plugin itself, next to the front end: it runs every call the agent does not.
  std::string_view local_binary;
  // The data dir whose agent may run this config's ADD and DEL; "" when none may (the call
  // then runs in local_binary, which also reports what is wrong with a bad config).
  std::string (*agent_dir)(const nlohmann::json& conf);
};

// ADD and DEL go to the weir-agent that serves the config's data dir, which runs them on the
// store it keeps open. Everything else, and every call the agent does not take, runs in the
// local binary, exec'd in our place with the same environment and stdin. The caller cannot
// tell the paths apart: same output, same exit code. Returns the exit code.
int front_main(const FrontEnd& front);

}  // namespace weir::agent
