// lib/store: the SQLite backend on disk (store_test.cpp runs the backend-neutral tests on it in
// memory).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "lib/store/sqlite.hpp"
#include "tests/unit/ipam_testing.hpp"

namespace weir::store {
namespace {

using test::ip;
using test::TempDir;

Lease lease(std::string_view addr, std::string cid = "c1", std::string ifname = "eth0") {
  return {.network = "n",
          .range_set = 0,
          .address = ip(addr),
          .container_id = std::move(cid),
          .ifname = std::move(ifname),
          .netns = "/ns",
          .created = 7};
}

// On disk: folder and file modes, WAL, schema version, reopening.
TEST(StoreSqliteFile, CreatesPrivateFilesInWalMode) {
  TempDir tmp;
  const std::string path = tmp / "sub/dir/weir.db";
  {
    auto s = SqliteStore::open(path);
    ASSERT_TRUE(s) << s.error().msg;
    ASSERT_TRUE(s->transact([](Txn& t) -> Expected<void> {
      EXPECT_TRUE(t.claim(lease("10.0.0.2")).value());
      return {};
    }));
  }
  struct stat st {};
  ASSERT_EQ(::stat((tmp / "sub/dir").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  auto scalar = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw, sql, -1, &st, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
    std::string v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
  };
  EXPECT_EQ(scalar("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(scalar("PRAGMA user_version"), "1");
  EXPECT_EQ(scalar("SELECT count(*) FROM leases"), "1");
  // A database from a newer weir is refused, not guessed at.
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto again = SqliteStore::open(path);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, cni::Code::kStore);
  EXPECT_NE(again.error().msg.find("newer"), std::string::npos) << again.error().msg;
}

TEST(StoreSqliteFile, BusyWriterIsTryAgainLater) {
  TempDir tmp;
  const std::string path = tmp / "weir.db";
  auto a = SqliteStore::open(path);
  auto b = SqliteStore::open(path, {.busy_timeout = std::chrono::milliseconds(50)});
  ASSERT_TRUE(a && b);
  auto outer = a->transact([&](Txn&) -> Expected<void> {
    // b cannot start a write transaction while a holds one.
    auto inner = b->transact([](Txn&) -> Expected<void> { return {}; });
    EXPECT_FALSE(inner);
    if (!inner) {
      EXPECT_EQ(inner.error().code, cni::Code::kTryAgainLater) << inner.error().msg;
    }
    // Readers are not blocked by a writer in WAL mode.
    EXPECT_TRUE(b->view([](Txn& t) -> Expected<void> {
      EXPECT_TRUE(t.list_leases(""));
      return {};
    }));
    return {};
  });
  ASSERT_TRUE(outer) << outer.error().msg;
}

TEST(StoreSqliteFile, VerifyFindsAndRebuildRepairsABrokenIndex) {
  TempDir tmp;
  const std::string path = tmp / "weir.db";
  auto s = SqliteStore::open(path);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->transact([](Txn& t) -> Expected<void> {
    for (auto a : {"10.0.0.1", "10.0.0.2", "10.0.0.4"}) EXPECT_TRUE(t.claim(lease(a, a)).value());
    return {};
  }));
  ASSERT_TRUE(s->verify());
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "DELETE FROM lease_runs", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto bad = s->verify();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, cni::Code::kStore);
  ASSERT_TRUE(s->rebuild_index());
  ASSERT_TRUE(s->verify());
  ASSERT_TRUE(s->transact([](Txn& t) -> Expected<void> {
    EXPECT_EQ(t.first_free("n", ip("10.0.0.1"), ip("10.0.0.9")).value(), ip("10.0.0.3"));
    return {};
  }));
}

// Every plugin call opens the database alone and closes it without a checkpoint; the WAL must
// still stay small, or each call would re-read all of it.
TEST(StoreSqliteFile, WalStaysBoundedAcrossShortLivedConnections) {
  TempDir tmp;
  const std::string path = tmp / "weir.db";
  for (int i = 0; i < 300; ++i) {
    auto s = SqliteStore::open(path);
    ASSERT_TRUE(s) << s.error().msg;
    ASSERT_TRUE(s->transact([&](Txn& t) -> Expected<void> {
      EXPECT_TRUE(t.claim(lease(net::IpAddr::v4(0x0a000000 + i).str(), "c")).value());
      return t.set_cursor("n", 0, net::IpAddr::v4(0x0a000000 + i));
    }));
  }
  EXPECT_LT(std::filesystem::file_size(path + "-wal"), 200u * 4120u);
  auto s = SqliteStore::open(path);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->verify());
  ASSERT_TRUE(s->view([](Txn& t) -> Expected<void> {
    EXPECT_EQ(t.list_leases("n").value().size(), 300u);
    return {};
  }));
}

// issue 13 item 9: a store file that exists is a weir store or is refused (102, naming it), never
// made a new store under live containers.
std::string refused(const std::string& path) {
  auto s = SqliteStore::open(path);
  if (s) return "opened";
  EXPECT_EQ(s.error().code, cni::Code::kStore) << s.error().msg;
  EXPECT_NE(s.error().msg.find(path), std::string::npos) << s.error().msg;
  return s.error().msg;
}

TEST(StoreSqliteFile, EmptyForeignAndGarbageFilesAreRefused) {
  TempDir tmp;
  const std::string path = tmp / "weir.db";
  { std::ofstream(path).flush(); }
  EXPECT_NE(refused(path).find("empty"), std::string::npos);
  EXPECT_EQ(std::filesystem::file_size(path), 0u) << "not made a store";
  {
    std::ofstream out(path);
    for (int i = 0; i < 100; ++i) out << "garbage, not a database\n";
  }
  EXPECT_NE(refused(path).find("not an SQLite database"), std::string::npos);
  std::filesystem::remove(path);
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  EXPECT_NE(refused(path).find("without weir's schema"), std::string::npos);
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 1; PRAGMA application_id = 42", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  EXPECT_NE(refused(path).find("another program's"), std::string::npos);
  // A link in its place is not followed.
  std::filesystem::remove(path);
  ASSERT_TRUE(SqliteStore::open(tmp / "real.db"));
  std::filesystem::create_symlink(tmp / "real.db", path);
  EXPECT_NE(refused(path).find("link"), std::string::npos);
}

TEST(StoreSqliteFile, TruncatedOrReplacedUnderAnOpenStoreIsNoticed) {
  TempDir tmp;
  const std::string path = tmp / "weir.db";
  auto s = SqliteStore::open(path);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->same_file());
  std::filesystem::resize_file(path, 0);
  auto t = s->transact([](Txn& txn) -> Expected<void> { return txn.claim(lease("10.0.0.2")) ? Expected<void>{} : fail(cni::make_error(cni::Code::kStore, "claim")); });
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, cni::Code::kStore);
  EXPECT_NE(t.error().msg.find("truncated"), std::string::npos) << t.error().msg;
  std::filesystem::remove(path);
  ASSERT_TRUE(SqliteStore::open(tmp / "other.db"));
  std::filesystem::rename(tmp / "other.db", path);
  auto r = s->same_file();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().msg.find("replaced"), std::string::npos) << r.error().msg;
  // Its schema changed under it: refused too.
  auto fresh = SqliteStore::open(path);
  ASSERT_TRUE(fresh);
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 7", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto v = fresh->view([](Txn&) -> Expected<void> { return {}; });
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().msg.find("schema version 7"), std::string::npos) << v.error().msg;
}

// Many processes opening a store that does not exist yet: one makes it, every one uses it.
TEST(StoreSqliteFile, ConcurrentFirstOpensShareOneStore) {
  TempDir tmp;
  const std::string path = tmp / "weir.db";
  std::vector<pid_t> kids;
  for (int i = 0; i < 8; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = SqliteStore::open(path);
      if (!s) ::_exit(1);
      auto ok = s->transact([&](Txn& t) -> Expected<void> {
        auto got = t.claim(lease(net::IpAddr::v4(0x0a000002 + i).str(), std::to_string(i)));
        if (!got || !*got) return fail(cni::make_error(cni::Code::kStore, "claim"));
        return {};
      });
      ::_exit(ok ? 0 : 2);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = -1;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  auto s = SqliteStore::open(path);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->view([](Txn& t) -> Expected<void> {
    EXPECT_EQ(t.list_leases("n").value().size(), 8u);
    return {};
  }));
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) {
    EXPECT_EQ(e.path().string().find(".new-"), std::string::npos) << e.path();
  }
}

// issue 13 item 10: a folder others can write, on the way or as the data folder, is refused
// before anything is made in it; /tmp's sticky bit on the way is fine.
TEST(StoreSqliteFile, FoldersOthersCanWriteAreRefused) {
  TempDir tmp;
  const std::string open = tmp / "open";
  std::filesystem::create_directory(open);
  ASSERT_EQ(::chmod(open.c_str(), 0777), 0);
  for (const std::string& path : {open + "/weir.db", open + "/sub/weir.db"}) {
    auto s = SqliteStore::open(path);
    ASSERT_FALSE(s) << path;
    EXPECT_EQ(s.error().code, cni::Code::kStore);
    EXPECT_NE(s.error().msg.find("writable by group or others"), std::string::npos) << s.error().msg;
  }
  EXPECT_TRUE(std::filesystem::is_empty(open));
  const std::string sticky = tmp / "sticky";
  std::filesystem::create_directory(sticky);
  ASSERT_EQ(::chmod(sticky.c_str(), 01777), 0);
  EXPECT_TRUE(SqliteStore::open(sticky + "/weir/weir.db")) << "a sticky folder on the way";
  auto as_data = SqliteStore::open(sticky + "/weir.db");
  EXPECT_FALSE(as_data) << "but not as the data folder itself";
  // A link on the way is followed when it is ours and leads somewhere safe.
  std::filesystem::create_directory_symlink(sticky + "/weir", tmp / "via");
  EXPECT_TRUE(SqliteStore::open(tmp / "via/weir.db"));
  std::filesystem::create_directory_symlink(open, tmp / "via-open");
  EXPECT_FALSE(SqliteStore::open(tmp / "via-open/weir.db"));
}

TEST(StoreSqliteFile, UnwritableFolderIsAStoreError) {
  auto s = SqliteStore::open("/proc/weir-test/weir.db");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, cni::Code::kStore);
}

}  // namespace
}  // namespace weir::store
