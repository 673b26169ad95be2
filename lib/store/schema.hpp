// The SQLite schema and its migrations, keyed by PRAGMA user_version.
#pragma once

#include "lib/cni/error.hpp"
#include "lib/store/sqlite_db.hpp"

namespace weir::store::sqlite {

inline constexpr int kSchemaVersion = 1;
// PRAGMA application_id of a weir store ("weir"): SQLite files of other programs are refused.
inline constexpr int64_t kApplicationId = 0x77656972;

// Creates the whole schema in a new, empty database, with its version and application id, in
// one transaction.
Expected<void> create_schema(Db& db);

// Brings the database to kSchemaVersion in one write transaction (a no-op when it is there
// already). A database from a newer weir is refused rather than guessed at.
Expected<void> migrate(Db& db);

}  // namespace weir::store::sqlite
