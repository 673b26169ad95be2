#pragma once

#include <memory>
#include <string>

#include "lib/store/store.hpp"

namespace weir::plugins {

// The store of a network: the SQLite file in `data_dir` ("" = /var/lib/weir).
Expected<std::unique_ptr<store::Store>> open_store(const std::string& data_dir);

}  // namespace weir::plugins
