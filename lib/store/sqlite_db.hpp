// Thin RAII over the SQLite C API for the SQLite backend only (nothing outside lib/store sees
// sqlite3.h). Statements are prepared on first use and cached per connection, so opening the
// store costs only what a call actually runs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "lib/cni/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace weir::store::sqlite {

// A BLOB parameter or column.
struct Blob {
  const uint8_t* data = nullptr;
  int size = 0;
  std::span<const uint8_t> span() const { return {data, static_cast<size_t>(size)}; }
};

// The error of a failed SQLite call: SQLITE_BUSY/LOCKED are code 11 (try again later), the rest
// code 102 (store).
cni::Error db_error(sqlite3* db, int rc, std::string_view what);

class Db;

// A row cursor over a cached statement; resets the statement when destroyed so that the next
// user of the same SQL starts clean.
class Query {
 public:
  Query(Query&& other) noexcept : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}
  Query& operator=(Query&&) = delete;
  ~Query();

  // True when a row is ready, false when done.
  Expected<bool> next();

  int64_t integer(int col) const;
  std::string text(int col) const;
  Blob blob(int col) const;
  bool is_null(int col) const;

 private:
  friend class Db;
  Query(Db* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Db* db_;
  sqlite3_stmt* stmt_;
};

class Db {
 public:
  // Opens (creating if allowed) the database at path; ":memory:" is a private in-memory one.
  static Expected<Db> open(const std::string& path, bool create);

  Db(Db&&) noexcept = default;
  Db& operator=(Db&&) noexcept = default;
  ~Db();

  // Runs one or more statements without parameters or results (DDL, PRAGMA, BEGIN, …).
  Expected<void> exec(const char* sql);
  // A single-value query ("PRAGMA user_version").
  Expected<int64_t> scalar(const char* sql);

  // `sql` must be a string literal: its address keys the statement cache.
  template <class... A>
  Expected<Query> query(const char* sql, const A&... args) {
    auto st = prepare(sql);
    if (!st) return fail(st.error());
    int i = 0;
    int rc = 0;
    ((rc = rc != 0 ? rc : bind(*st, ++i, args)), ...);
    Query q(this, *st);
    if (rc != 0) return fail(db_error(raw(), rc, "bind parameters"));
    return q;
  }
  // A statement without rows; returns the number of rows it changed.
  template <class... A>
  Expected<int> run(const char* sql, const A&... args) {
    auto q = query(sql, args...);
    if (!q) return fail(q.error());
    auto row = q->next();
    if (!row) return fail(row.error());
    return changes();
  }

  int changes() const;
  sqlite3* raw() const { return db_.get(); }
  // Frames in the WAL after the last commit (0 when not in WAL mode).
  int wal_frames() const { return *wal_frames_; }
  void reset_wal_frames() { *wal_frames_ = 0; }

 private:
  struct Close {
    void operator()(sqlite3* db) const;
  };
  struct Finalize {
    void operator()(sqlite3_stmt* s) const;
  };
  explicit Db(sqlite3* db);

  Expected<sqlite3_stmt*> prepare(const char* sql);
  static int bind(sqlite3_stmt* s, int i, std::string_view v);
  static int bind(sqlite3_stmt* s, int i, int64_t v);
  static int bind(sqlite3_stmt* s, int i, const Blob& v);
  static int bind(sqlite3_stmt* s, int i, const std::string& v) {
    return bind(s, i, std::string_view(v));
  }
  static int bind(sqlite3_stmt* s, int i, const char* v) { return bind(s, i, std::string_view(v)); }
  static int bind(sqlite3_stmt* s, int i, int v) { return bind(s, i, int64_t{v}); }

  std::unique_ptr<int> wal_frames_ = std::make_unique<int>(0);  // stable address for the hook
  std::unique_ptr<sqlite3, Close> db_;
  // Declared after db_, so the statements are finalized before the connection closes.
  std::map<const char*, std::unique_ptr<sqlite3_stmt, Finalize>> cache_;
};

}  // namespace weir::store::sqlite
