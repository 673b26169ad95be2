// Where the store and its neighbours live: no SQLite here, so that code that does not open the
// store (reaching weir-agent, agent/client/call.hpp) can find the data folder without linking it.
#pragma once

#include <string>
#include <string_view>

#include "lib/store/default_dir.hpp"

namespace weir::store {

inline constexpr std::string_view kDefaultDataDir = kDefaultDataDirText;
inline constexpr std::string_view kDatabaseFile = "weir.db";

// The data folder itself: data_dir, "" standing for kDefaultDataDir.
std::string data_folder(std::string_view data_dir);
// dir + "/weir.db" ("" = kDefaultDataDir).
std::string database_path(std::string_view data_dir);
// A file of the data folder, "" standing for kDefaultDataDir (locks, the agent's socket, logs).
std::string data_file(std::string_view data_dir, std::string_view name);

}  // namespace weir::store
