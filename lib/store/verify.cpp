// Consistency checks of the SQLite backend: the file itself and the run index.
#include "lib/store/sqlite.hpp"
#include "lib/store/sqlite_txn.hpp"

namespace weir::store {

namespace {

using sqlite::Run;
using sqlite::SqliteTxn;

cni::Error inconsistent(std::string msg) {
  return cni::make_error(cni::Code::kStore, "store: " + std::move(msg));
}

Expected<void> check_integrity(sqlite::Db& db) {
  auto q = db.query("PRAGMA integrity_check");
  if (!q) return fail(q.error());
  auto row = q->next();
  if (!row) return fail(row.error());
  if (*row && q->text(0) != "ok") return fail(inconsistent("integrity check: " + q->text(0)));
  return {};
}

Expected<void> check_runs(SqliteTxn& txn) {
  auto leases = txn.list_leases("");
  if (!leases) return fail(leases.error());
  auto runs = txn.list_runs();
  if (!runs) return fail(runs.error());
  auto want = sqlite::runs_of(*leases);
  if (*runs == want) return {};
  return fail(inconsistent("the run index does not match the leases (" +
                           std::to_string(runs->size()) + " runs stored, " +
                           std::to_string(want.size()) + " expected)"));
}

}  // namespace

Expected<void> SqliteStore::verify() {
  if (auto ok = check_integrity(db_); !ok) return ok;
  return view([](Txn& t) { return check_runs(static_cast<SqliteTxn&>(t)); });
}

Expected<void> SqliteStore::rebuild_index() {
  return transact([this](Txn& t) -> Expected<void> {
    auto leases = t.list_leases("");
    if (!leases) return fail(leases.error());
    if (auto r = db_.run("DELETE FROM lease_runs"); !r) return fail(r.error());
    for (const auto& [network, run] : sqlite::runs_of(*leases)) {
      auto r = db_.run("INSERT INTO lease_runs (network, first, last) VALUES (?, ?, ?)", network,
                       sqlite::AddrKey(run.first).blob(), sqlite::AddrKey(run.last).blob());
      if (!r) return fail(r.error());
    }
    return {};
  });
}

}  // namespace weir::store
