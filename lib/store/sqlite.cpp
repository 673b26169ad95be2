#include "lib/store/sqlite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "lib/store/data_dir.hpp"
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

// The operator's way out of a store weir refuses, said with every refusal.
constexpr std::string_view kRepair =
    "; see `weirctl store check`, and `weirctl store rebuild` to move it aside and rebuild "
    "the leases and records from the kernel's links";

cni::Error not_a_store(const std::string& path, std::string_view why) {
  return cni::make_error(cni::Code::kStore, "store: \"" + path + "\" is not a weir store: " +
                                                std::string(why) + std::string(kRepair));
}

// What a weir store file must be before SQLite may open it: a regular file of ours, not empty.
// SQLite's own files next to it (-wal, -shm, a -journal) are no links either: SQLite opens
// them itself, and the folder check (data_dir.hpp) makes sure nobody else could plant them.
Expected<void> check_store_file(const std::string& path, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) {
    return fail(cni::make_error(cni::Code::kStore,
                                "store: \"" + path + "\" is not a regular file (a link?): " +
                                    "weir opens no link in its data folder; move it away"));
  }
  if (st.st_size == 0) return fail(not_a_store(path, "it is empty (truncated?)"));
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    struct stat aux {};
    const std::string p = path + suffix;
    if (::lstat(p.c_str(), &aux) != 0) continue;
    if (!S_ISREG(aux.st_mode) || !trusted_uid(aux.st_uid)) {
      return fail(cni::make_error(cni::Code::kStore,
                                  "store: \"" + p + "\" is not a regular file of root's (a link?): " +
                                      "move it away"));
    }
  }
  return {};
}

// The file is SQLite's, and its schema weir's and one this weir knows. Reading the header is
// the first thing that touches the file.
Expected<void> check_schema(Db& db, const std::string& path) {
  auto app = db.scalar("PRAGMA application_id");
  if (!app) {
    if (app.error().code == cni::Code::kTryAgainLater) return fail(app.error());
    return fail(not_a_store(path, "not an SQLite database (" + app.error().msg + ")"));
  }
  auto version = db.scalar("PRAGMA user_version");
  if (!version) return fail(version.error());
  if (*app != 0 && *app != sqlite::kApplicationId) {
    return fail(not_a_store(path, "another program's SQLite database (application id " +
                                      std::to_string(*app) + ")"));
  }
  // Every weir store has a schema version (a store of a weir before the application id has
  // version 1 and id 0); an SQLite file without one is somebody else's, or an empty one.
  if (*version <= 0) return fail(not_a_store(path, "an SQLite database without weir's schema"));
  if (*version > sqlite::kSchemaVersion) {
    return fail(cni::make_error(
        cni::Code::kStore, "store: \"" + path + "\" has schema version " + std::to_string(*version) +
                               ", newer than this weir knows (" +
                               std::to_string(sqlite::kSchemaVersion) +
                               "): run the weir that made it" + std::string(kRepair)));
  }
  return {};
}

// A new store is made whole under a temporary name and then linked into place, so that
// weir.db is either missing (first use: made here) or a weir store: an empty or foreign file
// under that name is never taken for a new store (a truncated store would otherwise become an
// empty one under live containers, and hand out their addresses again). Another process
// making it at the same time is fine: the first link wins, the other's copy is dropped.
Expected<void> create_store(const std::string& path) {
  // Per thread: threads of one process may make the store at once too.
  const std::string tmp = path + ".new-" + std::to_string(::getpid()) + "-" + std::to_string(::gettid());
  ::unlink(tmp.c_str());  // a leftover of a killed thread with our ids
  {
    // SQLite creates files 0644 and gives its -wal and -shm the database's mode: 0600 first.
    auto made = open_data_file(tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (!made) return fail(made.error());
  }
  auto ok = [&]() -> Expected<void> {
    auto db = Db::open(tmp, false);
    if (!db) return fail(db.error());
    if (auto wal = db->exec("PRAGMA journal_mode = WAL"); !wal) return wal;
    return sqlite::create_schema(*db);
  }();  // closed here: the WAL is checkpointed into the file and removed
  if (ok && ::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    ok = fail(store_sys_error(errno, "create \"" + path + "\""));
  }
  ::unlink(tmp.c_str());
  for (const char* suffix : {"-wal", "-shm"}) ::unlink((tmp + suffix).c_str());
  return ok;
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
  const std::string folder = std::filesystem::path(path).parent_path().string();
  if (auto ok = check_data_folder(folder.empty() ? "." : folder, options.create); !ok) {
    return fail(ok.error());
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT || !options.create) return fail(store_sys_error(errno, "open \"" + path + "\""));
    if (auto ok = create_store(path); !ok) return fail(ok.error());
    if (::lstat(path.c_str(), &st) != 0) return fail(store_sys_error(errno, "open \"" + path + "\""));
  }
  if (auto ok = check_store_file(path, st); !ok) return fail(ok.error());
  auto db = Db::open(path, false);
  if (!db) return fail(db.error());
  // The first read of a WAL database may get SQLITE_BUSY without the busy handler (another
  // process recovering or restarting the WAL, see ensure_wal): try again until the timeout.
  sqlite3_busy_timeout(db->raw(), static_cast<int>(options.busy_timeout.count()));
  const auto deadline = std::chrono::steady_clock::now() + options.busy_timeout;
  for (;;) {
    auto ok = check_schema(*db, path);
    if (ok) break;
    if (ok.error().code != cni::Code::kTryAgainLater || std::chrono::steady_clock::now() > deadline) {
      return fail(ok.error());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (auto ok = configure(*db, options.busy_timeout, true); !ok) {
    return fail(ok.error().context("open store \"" + path + "\""));
  }
  SqliteStore s(std::move(*db), options);
  s.path_ = path;
  s.dev_ = st.st_dev;
  s.ino_ = st.st_ino;
  return s;
}

Expected<void> SqliteStore::same_file() const {
  if (path_.empty()) return {};  // in memory
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    return fail(store_sys_error(errno, "\"" + path_ + "\" is gone from under the open store"));
  }
  if (st.st_dev != dev_ || st.st_ino != ino_) {
    return fail(cni::make_error(cni::Code::kStore,
                                "store: \"" + path_ + "\" was replaced while open: open it again"));
  }
  if (st.st_size == 0) return fail(not_a_store(path_, "it was truncated while open"));
  return {};
}

Expected<SqliteStore> SqliteStore::open_unchecked(const std::string& path) {
  auto db = Db::open(path, false);
  if (!db) return fail(db.error());
  return SqliteStore(std::move(*db), {});
}

Expected<void> SqliteStore::checkpoint_now() {
  const int rc = sqlite3_wal_checkpoint_v2(db_.raw(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail(sqlite::db_error(db_.raw(), rc, "checkpoint"));
  db_.reset_wal_frames();
  return {};
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
  // A long-lived connection (weir-agent's) would go on reading and writing a file that was
  // truncated or replaced under it as if nothing had happened.
  if (auto ok = same_file(); !ok) return ok;
  auto step = [&](const char* sql) -> Expected<void> {
    auto r = db_.run(sql);
    if (!r) return fail(r.error());
    return {};
  };
  if (auto ok = step(begin); !ok) return ok;
  // The same file with another schema under an open connection (set by another process): a
  // cached statement would go on as if it were ours. One read of the header page, cached.
  if (!path_.empty()) {
    auto version = db_.scalar("PRAGMA user_version");
    if (!version || *version != sqlite::kSchemaVersion) {
      (void)step("ROLLBACK");
      if (!version) return fail(version.error());
      return fail(cni::make_error(cni::Code::kStore,
                                  "store: \"" + path_ + "\" has schema version " +
                                      std::to_string(*version) + " now, not " +
                                      std::to_string(sqlite::kSchemaVersion) + std::string(kRepair)));
    }
  }
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
