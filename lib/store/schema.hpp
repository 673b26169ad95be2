// The SQLite schema and its migrations, keyed by PRAGMA user_version.
#pragma once

#include "lib/cni/error.hpp"
#include "lib/store/sqlite_db.hpp"

namespace weir::store::sqlite {

inline constexpr int kSchemaVersion = 1;

// Brings the database to kSchemaVersion in one write transaction (a no-op when it is there
// already). A database from a newer weir is refused rather than guessed at.
Expected<void> migrate(Db& db);

}  // namespace weir::store::sqlite
