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

Expected<void> release_gone(store::Txn& txn, const Seams& seams) {
  auto leases = txn.list_leases("");
  if (!leases) return fail(leases.error());
  // On a shared store, only this host's: another host's netns paths mean nothing here.
  for (const auto& l : *leases) {
    if (!txn.owns(l.host) || seams.netns_exists(l.netns)) continue;
    if (auto ok = txn.release_address(l.network, l.address); !ok) return fail(ok.error());
  }
  auto endpoints = txn.list_endpoints("");
  if (!endpoints) return fail(endpoints.error());
  for (const auto& e : *endpoints) {
    if (!txn.owns(e.host) || seams.netns_exists(e.netns)) continue;
    if (auto ok = txn.del_endpoint(e.network, e.container_id, e.ifname); !ok) return ok;
  }
  return {};
}

}  // namespace

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

Expected<void> sweep_after_reboot(store::Txn& txn, const Seams& seams) {
  const std::string boot = seams.boot_id();
  if (boot.empty()) return {};  // nothing to compare with
  auto seen = txn.get_meta(kBootIdKey);  // a cheap read on every call; the write once per boot
  if (!seen) return fail(seen.error());
  if (*seen == boot) return {};
  if (auto ok = release_gone(txn, seams); !ok) return ok;
  return txn.put_meta(kBootIdKey, boot);
}

Expected<void> sweep_after_reboot(store::Store& s, const Seams& seams) {
  const std::string boot = seams.boot_id();
  if (boot.empty()) return {};
  auto seen = stored_boot_id(s);  // a read first: the write lock only once per boot
  if (!seen) return fail(seen.error());
  if (*seen == boot) return {};
  // Another process may sweep meanwhile: the transaction looks again.
  return s.transact([&](store::Txn& txn) { return sweep_after_reboot(txn, seams); });
}

Expected<store::SqliteStore> open_store(const std::string& data_dir, const Seams& seams) {
  auto s = store::SqliteStore::open(store::database_path(data_dir));
  if (!s) return fail(s.error());
  if (auto ok = sweep_after_reboot(*s, seams); !ok) return fail(ok.error());
  return s;
}

}  // namespace weir::ipam
