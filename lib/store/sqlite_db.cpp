#include "lib/store/sqlite_db.hpp"

#include <sqlite3.h>

namespace weir::store::sqlite {

cni::Error db_error(sqlite3* db, int rc, std::string_view what) {
  const int primary = rc & 0xff;
  std::string msg =
      std::string(what) + ": " +
      (db != nullptr && sqlite3_errcode(db) == rc ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return cni::try_again_later("store is busy: " + msg);
  }
  return cni::make_error(cni::Code::kStore, "store: " + msg);
}

Query::~Query() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
  }
}

Expected<bool> Query::next() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return fail(db_error(db_->raw(), rc, sqlite3_sql(stmt_)));
}

int64_t Query::integer(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

std::string Query::text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

Blob Query::blob(int col) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  return {p, sqlite3_column_bytes(stmt_, col)};
}

bool Query::is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

void Db::Close::operator()(sqlite3* db) const {
  sqlite3_close_v2(db);
}
void Db::Finalize::operator()(sqlite3_stmt* s) const {
  sqlite3_finalize(s);
}

namespace {

int count_wal_frames(void* frames, sqlite3*, const char*, int n) {
  *static_cast<int*>(frames) = n;
  return SQLITE_OK;
}

}  // namespace

Db::Db(sqlite3* db) : db_(db) {
  // Replaces SQLite's own autocheckpoint hook: the store decides when to checkpoint.
  if (db != nullptr) sqlite3_wal_hook(db, count_wal_frames, wal_frames_.get());
}

namespace {

// Before SQLite's first use in the process (sqlite3_config must precede sqlite3_initialize).
// A plugin is a process per call that runs a handful of statements: SQLite's per-connection
// lookaside pool (~120 KiB threaded into a free list at open) and its first bulk of page-cache
// memory are written in full before any of it is used — a page fault per 4 KiB on every call.
// Without them small allocations go to malloc, which the few statements do not notice.
void configure_sqlite_once() {
  static const bool done = [] {
    (void)sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
    return true;
  }();
  (void)done;
}

}  // namespace

Expected<Db> Db::open(const std::string& path, bool create) {
  configure_sqlite_once();
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (create) flags |= SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);  // owns raw even on failure (sqlite3_open_v2 may allocate it anyway)
  if (rc != SQLITE_OK) return fail(db_error(raw, rc, "open \"" + path + "\""));
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Db::~Db() = default;

Expected<void> Db::exec(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(raw(), sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return {};
  std::string what = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  auto e = db_error(nullptr, rc, sql);
  e.msg += " (" + what + ")";
  return fail(std::move(e));
}

Expected<int64_t> Db::scalar(const char* sql) {
  auto q = query(sql);
  if (!q) return fail(q.error());
  auto row = q->next();
  if (!row) return fail(row.error());
  if (!*row)
    return fail(cni::make_error(cni::Code::kStore, std::string("store: no value from ") + sql));
  return q->integer(0);
}

int Db::changes() const {
  return sqlite3_changes(raw());
}

Expected<sqlite3_stmt*> Db::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return it->second.get();
  sqlite3_stmt* s = nullptr;
  const int rc = sqlite3_prepare_v3(raw(), sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) return fail(db_error(raw(), rc, std::string("prepare ") + sql));
  cache_.emplace(sql, s);
  return s;
}

int Db::bind(sqlite3_stmt* s, int i, std::string_view v) {
  // A null data pointer would bind SQL NULL; an empty string is still a string.
  const char* p = v.data() != nullptr ? v.data() : "";
  return sqlite3_bind_text(s, i, p, static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

int Db::bind(sqlite3_stmt* s, int i, int64_t v) {
  return sqlite3_bind_int64(s, i, v);
}

int Db::bind(sqlite3_stmt* s, int i, const Blob& v) {
  return sqlite3_bind_blob(s, i, v.data, v.size, SQLITE_TRANSIENT);
}

}  // namespace weir::store::sqlite
