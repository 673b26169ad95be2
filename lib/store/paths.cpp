#include "lib/store/paths.hpp"

namespace weir::store {

std::string database_path(std::string_view data_dir) {
  return data_file(data_dir, kDatabaseFile);
}

std::string data_folder(std::string_view data_dir) {
  return std::string(data_dir.empty() ? kDefaultDataDir : data_dir);
}

// A plain join, not std::filesystem, whose path parsing was a sixth of the work of the first
// weir-ipam front end.
std::string data_file(std::string_view data_dir, std::string_view name) {
  std::string path = data_folder(data_dir);
  if (!path.ends_with('/')) path += '/';
  return path.append(name);
}

}  // namespace weir::store
