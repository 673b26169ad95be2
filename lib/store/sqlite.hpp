// The embedded store: one SQLite database file in WAL mode. Many plugin processes open it at
// once; writers take turns (BEGIN IMMEDIATE, busy timeout) and every transaction is atomic, so
// a process killed half-way leaves the last committed state.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>

#include "lib/store/paths.hpp"
#include "lib/store/sqlite_db.hpp"
#include "lib/store/store.hpp"

namespace weir::store {

struct SqliteOptions {
  std::chrono::milliseconds busy_timeout{10'000};
  // Create the folder and the database when missing. Off for a server whose folder may be
  // removed under it (weir-agent): it must not bring a deleted folder back.
  bool create = true;
  // Leave the WAL checkpoint (two fdatasyncs, every few writes) to checkpoint_if_due(), which a
  // server calls once it has answered, instead of doing it inside the write that fills the WAL.
  bool defer_checkpoint = false;
};

class SqliteStore final : public Store {
 public:
  // Opens the database file, creating its folder (mode 0700) and the file (mode 0600) when
  // missing, and migrates the schema. The folder must be safe (check_data_folder, code 102);
  // a file that exists must be a weir store this weir knows: an empty file, another program's
  // file or an unknown schema is refused with code 102 naming it, never made a new store. Cheap enough for every plugin call: statements are
  // prepared only when first used.
  static Expected<SqliteStore> open(const std::string& path, SqliteOptions options = {});
  // Opens a file as it is, without the checks and set-up open() makes: for salvaging what a
  // store that open() refuses still holds (weirctl store rebuild). Reads may fail.
  static Expected<SqliteStore> open_unchecked(const std::string& path);
  // A private in-memory database (unit tests).
  static Expected<SqliteStore> open_memory();

  Expected<void> transact(const TxnFn& fn) override;
  Expected<void> view(const TxnFn& fn) override;

  // Whether the file at the path it was opened from is still the one open (not replaced, not
  // truncated): code 102 otherwise. Every transaction checks it first; a long-lived holder
  // (weir-agent) opens the store again when it fails.
  Expected<void> same_file() const;

  // Checks the file (PRAGMA integrity_check) and that the run index matches the leases.
  Expected<void> verify();
  // Rebuilds the run index from the leases (repairs what verify() reports about it).
  Expected<void> rebuild_index();

  // Checkpoints the WAL once it is long enough (see maybe_checkpoint in sqlite.cpp). Writes do
  // this themselves unless the store was opened with defer_checkpoint.
  void checkpoint_if_due() { maybe_checkpoint(); }
  // Writes the whole WAL into the database file and empties it, waiting for readers: the file
  // alone then holds every commit (before it is renamed into place).
  Expected<void> checkpoint_now();

 private:
  SqliteStore(sqlite::Db db, SqliteOptions options) : db_(std::move(db)), options_(options) {}
  Expected<void> run_txn(const char* begin, bool writable, const TxnFn& fn);
  void maybe_checkpoint();

  sqlite::Db db_;
  SqliteOptions options_;
  std::string path_;  // "" in memory
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace weir::store
