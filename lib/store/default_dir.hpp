// The store's default folder, for code that links no C++ library either (agent/proto, plugins/front).
#pragma once

namespace weir::store {

inline constexpr char kDefaultDataDirText[] = "/var/lib/weir";

}  // namespace weir::store
