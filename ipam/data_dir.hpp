// The data folder an IPAM section names.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "lib/store/paths.hpp"

namespace weir::ipam {

// ipam.dataDir when it is a string, else the plugin's own `dataDir` (one network, one store:
// a plugin that moved its store moves its leases with it), else the store's default folder.
// Lenient on purpose: DEL and GC must work even when the rest of the section no longer parses.
inline std::string data_dir_in(const nlohmann::json& ipam, const nlohmann::json& plugin) {
  for (const auto* obj : {&ipam, &plugin}) {
    if (!obj->is_object()) continue;
    auto it = obj->find("dataDir");
    if (it != obj->end() && it->is_string()) return it->get<std::string>();
  }
  return std::string(store::kDefaultDataDir);
}

}  // namespace weir::ipam
