// The data folder an IPAM section names.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "lib/store/paths.hpp"

namespace weir::ipam {

// ipam.dataDir when it is a string, else the store's default folder. Lenient on purpose: DEL
// and GC must work even when the rest of the section no longer parses.
inline std::string data_dir_in(const nlohmann::json& ipam) {
  if (ipam.is_object()) {
    auto it = ipam.find("dataDir");
    if (it != ipam.end() && it->is_string()) return it->get<std::string>();
  }
  return std::string(store::kDefaultDataDir);
}

}  // namespace weir::ipam
