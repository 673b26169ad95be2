#include "lib/store/sqlite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "lib/store/schema.hpp"
#include "lib/store/sqlite_txn.hpp"

namespace weir::store {

namespace {

using sqlite::Db;

// The WAL is checkpointed and truncated once it holds this many pages (see maybe_checkpoint).
// Every process that opens the store alone re-reads the whole WAL, and an ADD or DEL writes
// 3–5 pages: 32 keeps that read short for a checkpoint (~1 ms, two fdatasyncs) every few calls.
constexpr int kWalPages = 32;

cni::Error store_sys_error(int err, std::string_view what) {
  return cni::sys_error(err, "store: " + std::string(what), cni::Code::kStore);
}

// mkdir -p with mode 0700 for what it creates: leases name containers, which is nobody else's
// business.
Expected<void> ensure_dir(const std::filesystem::path& dir) {
  if (dir.empty()) return {};
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return fail(store_sys_error(ENOTDIR, "data folder \"" + dir.string() + "\""));
  }
  if (auto ok = ensure_dir(dir.parent_path()); !ok) return ok;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail(store_sys_error(errno, "create data folder \"" + dir.string() + "\""));
  }
  return {};
}

// SQLite creates files with 0644 and gives the -wal and -shm files the mode of the database,
// so the database file is created here first, 0600.
Expected<void> ensure_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fail(store_sys_error(errno, "create \"" + path + "\""));
  ::close(fd);
  return {};
}

// Switching to WAL needs a moment alone with the file; processes opening a new database at the
// same time may get SQLITE_BUSY without the busy handler, so retry until the timeout.
Expected<bool> try_wal(Db& db) {
  auto mode = db.query("PRAGMA journal_mode = WAL");
  if (!mode) return fail(mode.error());
  auto row = mode->next();
  if (!row) return fail(row.error());
  return *row && mode->text(0) == "wal";
}

Expected<void> ensure_wal(Db& db, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto wal = try_wal(db);
    if (wal && *wal) return {};
    if (std::chrono::steady_clock::now() > deadline) {
      if (!wal) return fail(wal.error());
      return fail(cni::try_again_later("store: cannot switch the database to WAL mode"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Expected<void> configure(Db& db, std::chrono::milliseconds busy_timeout, bool file) {
  sqlite3_busy_timeout(db.raw(), static_cast<int>(busy_timeout.count()));
  if (file) {
    // Each plugin call is a short-lived process, usually the only one with the database open.
    // By default the last connection to close checkpoints (two fsyncs, ~4 ms each on a VM
    // disk): more than the call itself. So the WAL outlives the process (maybe_checkpoint
    // bounds it).
    sqlite3_db_config(db.raw(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    if (auto ok = ensure_wal(db, busy_timeout); !ok) return ok;
    // NORMAL is safe in WAL mode: a crash loses no committed transaction of a running system
    // and never corrupts; only a power cut may lose the last commits.
    if (auto ok = db.exec("PRAGMA synchronous = NORMAL"); !ok) return ok;
  }
  return sqlite::migrate(db);
}

}  // namespace

Expected<SqliteStore> SqliteStore::open(const std::string& path, SqliteOptions options) {
  if (options.create) {
    if (auto ok = ensure_dir(std::filesystem::path(path).parent_path()); !ok) {
      return fail(ok.error());
    }
    if (auto ok = ensure_file(path); !ok) return fail(ok.error());
  }
  auto db = Db::open(path, false);
  if (!db) return fail(db.error());
  if (auto ok = configure(*db, options.busy_timeout, true); !ok) {
    return fail(ok.error().context("open store \"" + path + "\""));
  }
  return SqliteStore(std::move(*db), options);
}

Expected<SqliteStore> SqliteStore::open_memory() {
  auto db = Db::open(":memory:", true);
  if (!db) return fail(db.error());
  if (auto ok = configure(*db, std::chrono::milliseconds(0), false); !ok) return fail(ok.error());
  return SqliteStore(std::move(*db), {});
}

// BEGIN and COMMIT go through the statement cache too: a connection that lives long (weir-agent's)
// would otherwise compile them again on every transaction.
Expected<void> SqliteStore::run_txn(const char* begin, bool writable, const TxnFn& fn) {
  auto step = [&](const char* sql) -> Expected<void> {
    auto r = db_.run(sql);
    if (!r) return fail(r.error());
    return {};
  };
  if (auto ok = step(begin); !ok) return ok;
  sqlite::SqliteTxn txn(db_, writable);
  auto ok = fn(txn);
  if (ok) ok = step("COMMIT");
  if (!ok) (void)step("ROLLBACK");
  if (ok && writable && !options_.defer_checkpoint) maybe_checkpoint();
  return ok;
}

// A process that opens the database alone rebuilds the WAL index by reading the whole WAL, and
// forgets what earlier processes checkpointed: the WAL would only grow, and every call would
// re-read and re-checkpoint all of it. So once the WAL holds kWalPages pages, checkpoint it and
// truncate it to nothing. Best effort and without waiting: when other processes are in the
// database, do what SQLite's autocheckpoint does (a passive checkpoint; while processes overlap
// the WAL index survives and SQLite restarts the WAL itself), and try again on a later commit.
void SqliteStore::maybe_checkpoint() {
  if (db_.wal_frames() < kWalPages) return;
  sqlite3* db = db_.raw();
  sqlite3_busy_timeout(db, 0);
  int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
  sqlite3_busy_timeout(db, static_cast<int>(options_.busy_timeout.count()));
  if (rc == SQLITE_OK) db_.reset_wal_frames();
}

Expected<void> SqliteStore::transact(const TxnFn& fn) {
  // IMMEDIATE takes the write lock up front (waiting up to the busy timeout): a deferred
  // transaction that reads and then writes could fail with BUSY half-way instead of waiting.
  return run_txn("BEGIN IMMEDIATE", true, fn);
}

Expected<void> SqliteStore::view(const TxnFn& fn) {
  return run_txn("BEGIN", false, fn);
}

}  // namespace weir::store
