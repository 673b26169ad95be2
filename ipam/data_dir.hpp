// The data folder an IPAM section names: light enough for the weir-ipam front end.
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

// The folder whose weir-agent may run calls of this IPAM section: its data dir when it is
// absolute. "" otherwise (no section, a relative folder): such calls run where they were made,
// which reports what is wrong with them.
inline std::string agent_dir_in(const nlohmann::json& ipam) {
  if (!ipam.is_object()) return "";
  std::string dir = data_dir_in(ipam);
  return dir.starts_with('/') ? dir : "";
}

// The same for a whole network config ("" when it is not a JSON object).
inline std::string agent_data_dir(const nlohmann::json& conf) {
  if (!conf.is_object()) return "";
  auto ipam = conf.find("ipam");
  return ipam == conf.end() ? "" : agent_dir_in(*ipam);
}

}  // namespace weir::ipam
