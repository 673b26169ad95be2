// Which weir-agent may run a weir-bridge config's ADD and DEL: light enough for the front end
// (agent/front.hpp), which links neither the plugin nor the store.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ipam/data_dir.hpp"
#include "lib/store/paths.hpp"

namespace weir::plugins::bridge {

// The data dir of the config's store (as store_dir_of finds it: `dataDir`, else weir-ipam's
// `ipam.dataDir`, else the default folder) when the agent may run the call there: IPAM is
// weir-ipam (in-process) or none (`{}` or no section), and the folder is absolute. "" otherwise:
// another IPAM plugin is exec'd, which the calling process does; a bad config is reported by
// the plugin itself.
inline std::string agent_data_dir(const nlohmann::json& conf) {
  if (!conf.is_object()) return "";
  const auto ipam = conf.find("ipam");
  const bool l2_only = ipam == conf.end() || (ipam->is_object() && ipam->empty());
  if (!l2_only) {
    if (!ipam->is_object()) return "";
    const auto type = ipam->find("type");
    if (type == ipam->end() || *type != "weir-ipam") return "";
  }
  std::string dir;
  if (const auto own = conf.find("dataDir"); own != conf.end()) {
    if (!own->is_string()) return "";
    dir = own->get<std::string>();
  } else {
    dir = l2_only ? std::string(store::kDefaultDataDir) : ipam::data_dir_in(*ipam);
  }
  return dir.starts_with('/') ? dir : "";
}

}  // namespace weir::plugins::bridge
