// The store across reboots: every netns is gone after one, so the first use after a new boot id
// releases what was leased to namespaces that no longer exist (host-local leaks these forever).
#include <sys/stat.h>

#include <cerrno>
#include <ctime>
#include <fstream>

#include "ipam/ipam.hpp"

namespace weir::ipam {

namespace {

constexpr std::string_view kBootIdKey = "boot_id";

Expected<std::optional<std::string>> stored_boot_id(store::Store& s) {
  std::optional<std::string> seen;
  auto ok = s.view([&](store::Txn& txn) -> Expected<void> {
    auto m = txn.get_meta(kBootIdKey);
    if (!m) return fail(m.error());
    seen = *m;
    return {};
  });
  if (!ok) return fail(ok.error());
  return seen;
}

// etcd takes at most 128 operations per txn (its --max-txn-ops): on a shared store one
// transaction's sweep writes at most this much (a lease is 2 writes, an endpoint 1 + a copy per
// name and alias, each guarded by one read), leaving room for the call's own work; the calls
// after it go on where it stopped, and the boot id is recorded once nothing is left. A store
// of this host alone (SQLite) sweeps everything at once.
constexpr int kSweepWrites = 64;

// Releases what a reboot left behind, within the budget (< 0: none); false when it stopped
// with more left.
Expected<bool> release_gone(store::Txn& txn, const Seams& seams, int budget) {
  int used = 0;
  // At least one record per transaction, whatever it costs: the sweep always moves on.
  auto room_for = [&](int cost) { return budget < 0 || used == 0 || used + cost <= budget; };
  auto leases = txn.list_leases("");
  if (!leases) return fail(leases.error());
  // On a shared store, only this host's: another host's netns paths mean nothing here.
  for (const auto& l : *leases) {
    if (!txn.owns(l.host) || seams.netns_exists(l.netns)) continue;
    if (!room_for(2)) return false;
    auto released = txn.release_address(l.network, l.address);
    if (!released) return fail(released.error());
    if (*released) used += 2;  // a record that is not where its key says costs nothing
  }
  auto endpoints = txn.list_endpoints("");
  if (!endpoints) return fail(endpoints.error());
  for (const auto& e : *endpoints) {
    if (!txn.owns(e.host) || seams.netns_exists(e.netns)) continue;
    const int cost = 1 + static_cast<int>(e.names.size() + e.aliases.size());
    if (!room_for(cost)) return false;
    if (auto ok = txn.del_endpoint(e.network, e.container_id, e.ifname); !ok)
      return fail(ok.error());
    used += cost;
  }
  return true;
}

}  // namespace

// One transaction's part of the sweep; true once the boot id is recorded (or nothing to do).
Expected<bool> sweep_after_reboot(store::Txn& txn, const Seams& seams) {
  const std::string boot = seams.boot_id();
  if (boot.empty()) return true;         // nothing to compare with
  auto seen = txn.get_meta(kBootIdKey);  // a cheap read on every call; the write once per boot
  if (!seen) return fail(seen.error());
  if (*seen == boot) return true;
  auto done = release_gone(txn, seams, txn.host().empty() ? -1 : kSweepWrites);
  if (!done) return fail(done.error());
  if (!*done) return false;
  if (auto ok = txn.put_meta(kBootIdKey, boot); !ok) return fail(ok.error());
  return true;
}

std::string read_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

int64_t unix_now() {
  return static_cast<int64_t>(std::time(nullptr));
}

Expected<void> sweep_after_reboot(store::Store& s, const Seams& seams) {
  const std::string boot = seams.boot_id();
  if (boot.empty()) return {};
  auto seen = stored_boot_id(s);  // a read first: the write lock only once per boot
  if (!seen) return fail(seen.error());
  if (*seen == boot) return {};
  // Another process may sweep meanwhile: each transaction looks again. On a shared store, a
  // batch per transaction until all is done.
  for (bool done = false; !done;) {
    auto ok = s.transact([&](store::Txn& txn) -> Expected<void> {
      auto d = sweep_after_reboot(txn, seams);
      if (!d) return fail(d.error());
      done = *d;
      return {};
    });
    if (!ok) return ok;
  }
  return {};
}

Expected<store::SqliteStore> open_store(const std::string& data_dir, const Seams& seams) {
  auto s = store::SqliteStore::open(store::database_path(data_dir));
  if (!s) return fail(s.error());
  if (auto ok = sweep_after_reboot(*s, seams); !ok) return fail(ok.error());
  return s;
}

}  // namespace weir::ipam
