#include "plugins/common/store_open.hpp"

#include "lib/store/sqlite.hpp"

namespace weir::plugins {

Expected<std::unique_ptr<store::Store>> open_store(const std::string& data_dir) {
  auto path = store::database_path(data_dir);
  auto s = store::SqliteStore::open(path);
  if (!s) return fail(s.error());
  return std::unique_ptr<store::Store>(std::make_unique<store::SqliteStore>(std::move(*s)));
}

}  // namespace weir::plugins
