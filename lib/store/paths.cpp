#include "lib/store/paths.hpp"

#include <filesystem>

namespace weir::store {

std::string database_path(std::string_view data_dir) {
  return data_file(data_dir, kDatabaseFile);
}

std::string data_file(std::string_view data_dir, std::string_view name) {
  return (std::filesystem::path(data_dir.empty() ? kDefaultDataDir : data_dir) / name).string();
}

}  // namespace weir::store
