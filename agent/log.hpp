// weir-agent's log: its stderr, which the plugin that starts it points at agent.log.
#pragma once

#include <iostream>
#include <set>
#include <string>

namespace weir::agent {

inline void log(const std::string& msg) {
  std::cerr << "weir-agent: " << msg << std::endl;
}

// Logs msg the first time only (the control loop's thread).
inline void log_once(const std::string& msg) {
  static std::set<std::string> said;
  if (said.insert(msg).second) log(msg);
}

}  // namespace weir::agent
