// The embedded store: one SQLite database file in WAL mode. Many plugin processes open it at
// once; writers take turns (BEGIN IMMEDIATE, busy timeout) and every transaction is atomic, so
// a process killed half-way leaves the last committed state.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "lib/store/sqlite_db.hpp"
#include "lib/store/store.hpp"

namespace weir::store {

inline constexpr std::string_view kDefaultDataDir = "/var/lib/weir";
inline constexpr std::string_view kDatabaseFile = "weir.db";

// dir + "/weir.db" ("" = kDefaultDataDir).
std::string database_path(std::string_view data_dir);
// A file of the data folder, "" standing for kDefaultDataDir (locks, the agent's socket, logs).
std::string data_file(std::string_view data_dir, std::string_view name);

struct SqliteOptions {
  std::chrono::milliseconds busy_timeout{10'000};
};

class SqliteStore final : public Store {
 public:
  // Opens the database file, creating its folder (mode 0700) and the file (mode 0600) when
  // missing, and migrates the schema. Cheap enough for every plugin call: statements are
  // prepared only when first used.
  static Expected<SqliteStore> open(const std::string& path, SqliteOptions options = {});
  // A private in-memory database (unit tests).
  static Expected<SqliteStore> open_memory();

  Expected<void> transact(const TxnFn& fn) override;
  Expected<void> view(const TxnFn& fn) override;

  // Checks the file (PRAGMA integrity_check) and that the run index matches the leases.
  Expected<void> verify();
  // Rebuilds the run index from the leases (repairs what verify() reports about it).
  Expected<void> rebuild_index();

 private:
  SqliteStore(sqlite::Db db, SqliteOptions options) : db_(std::move(db)), options_(options) {}
  Expected<void> run_txn(const char* begin, bool writable, const TxnFn& fn);
  void maybe_checkpoint();

  sqlite::Db db_;
  SqliteOptions options_;
};

}  // namespace weir::store
