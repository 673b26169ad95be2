// Networks, leases, cursors and meta records of the SQLite backend.
#include "lib/store/sqlite_txn.hpp"

#include <nlohmann/json.hpp>

#include "lib/store/codec.hpp"

namespace weir::store::sqlite {

namespace {

Expected<Lease> lease_from_row(const Query& q) {
  auto addr = decode_addr(q.blob(1));
  if (!addr) return fail(addr.error());
  return Lease{.network = q.text(0),
               .range_set = static_cast<int>(q.integer(2)),
               .address = *addr,
               .container_id = q.text(3),
               .ifname = q.text(4),
               .netns = q.text(5),
               .created = q.integer(6)};
}

Expected<std::vector<Lease>> collect_leases(Expected<Query> q) {
  if (!q) return fail(q.error());
  std::vector<Lease> out;
  for (;;) {
    auto row = q->next();
    if (!row) return fail(row.error());
    if (!*row) return out;
    auto lease = lease_from_row(*q);
    if (!lease) return fail(lease.error());
    out.push_back(std::move(*lease));
  }
}

Expected<NetworkRecord> network_from_row(const Query& q) {
  auto subnets = cidrs_from_json(q.text(1));
  if (!subnets) return fail(subnets.error().context("network \"" + q.text(0) + "\""));
  return NetworkRecord{.name = q.text(0), .subnets = std::move(*subnets), .created = q.integer(2)};
}

Expected<void> same_family(const net::IpAddr& from, const net::IpAddr& to) {
  if (from.family() == to.family()) return {};
  return fail(
      cni::internal("store: address range " + from.str() + " - " + to.str() + " mixes families"));
}

}  // namespace

Expected<void> SqliteTxn::writable(std::string_view what) const {
  if (writable_) return {};
  return fail(cni::internal("store: " + std::string(what) + " in a read-only transaction"));
}

// Networks.

Expected<std::optional<NetworkRecord>> SqliteTxn::get_network(std::string_view name) {
  auto q = db_.query("SELECT name, subnets, created FROM networks WHERE name = ?", name);
  if (!q) return fail(q.error());
  auto row = q->next();
  if (!row) return fail(row.error());
  if (!*row) return std::nullopt;
  auto n = network_from_row(*q);
  if (!n) return fail(n.error());
  return std::optional(std::move(*n));
}

Expected<void> SqliteTxn::put_network(const NetworkRecord& n) {
  if (auto ok = writable("put network"); !ok) return ok;
  auto r = db_.run("INSERT OR REPLACE INTO networks (name, subnets, created) VALUES (?, ?, ?)",
                   n.name, cidrs_to_json(n.subnets), n.created);
  if (!r) return fail(r.error());
  return {};
}

Expected<std::vector<NetworkRecord>> SqliteTxn::list_networks() {
  auto q = db_.query("SELECT name, subnets, created FROM networks ORDER BY name");
  if (!q) return fail(q.error());
  std::vector<NetworkRecord> out;
  for (;;) {
    auto row = q->next();
    if (!row) return fail(row.error());
    if (!*row) return out;
    auto n = network_from_row(*q);
    if (!n) return fail(n.error());
    out.push_back(std::move(*n));
  }
}

Expected<void> SqliteTxn::del_network(std::string_view name) {
  if (auto ok = writable("delete network"); !ok) return ok;
  auto r = db_.run("DELETE FROM networks WHERE name = ?", name);
  if (!r) return fail(r.error());
  return {};
}

// Leases.

Expected<bool> SqliteTxn::claim(const Lease& l) {
  if (auto ok = writable("claim"); !ok) return fail(ok.error());
  // The primary key (network, addr) makes the claim atomic: a taken address changes no row.
  auto r = db_.run(
      "INSERT INTO leases (network, addr, range_set, container_id, ifname, netns, created) "
      "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (network, addr) DO NOTHING",
      l.network, AddrKey(l.address).blob(), l.range_set, l.container_id, l.ifname, l.netns,
      l.created);
  if (!r) return fail(r.error());
  if (*r == 0) return false;
  if (auto ok = runs_add(l.network, l.address); !ok) return fail(ok.error());
  return true;
}

Expected<std::optional<Lease>> SqliteTxn::get_lease(std::string_view network,
                                                    const net::IpAddr& address) {
  auto leases = collect_leases(
      db_.query("SELECT network, addr, range_set, container_id, ifname, netns, created FROM leases "
                "WHERE network = ? AND addr = ?",
                network, AddrKey(address).blob()));
  if (!leases) return fail(leases.error());
  if (leases->empty()) return std::nullopt;
  return std::optional(std::move(leases->front()));
}

Expected<std::optional<net::IpAddr>> SqliteTxn::first_free(std::string_view network,
                                                           const net::IpAddr& from,
                                                           const net::IpAddr& to) {
  if (auto ok = same_family(from, to); !ok) return fail(ok.error());
  if (to < from) return std::nullopt;
  auto run = run_containing(network, from);
  if (!run) return fail(run.error());
  if (!*run) return std::optional(from);
  // Runs are maximal, so the address after a run is free.
  if ((*run)->last >= to) return std::nullopt;
  return std::optional((*run)->last.next());
}

Expected<std::vector<Lease>> SqliteTxn::leases_of(std::string_view network,
                                                  std::string_view container_id,
                                                  std::string_view ifname) {
  return collect_leases(
      // Without statistics the planner picks the primary key (for the ORDER BY) and walks every
      // lease of the network; the attachment index holds addr in order too.
      db_.query("SELECT network, addr, range_set, container_id, ifname, netns, created FROM leases "
                "INDEXED BY leases_by_attachment "
                "WHERE network = ? AND container_id = ? AND ifname = ? ORDER BY addr",
                network, container_id, ifname));
}

Expected<void> SqliteTxn::del_lease(const Lease& l) {
  auto r = db_.run("DELETE FROM leases WHERE network = ? AND addr = ?", l.network,
                   AddrKey(l.address).blob());
  if (!r) return fail(r.error());
  if (*r == 0) return {};
  return runs_remove(l.network, l.address);
}

Expected<int> SqliteTxn::release(std::string_view network, std::string_view container_id,
                                 std::string_view ifname) {
  if (auto ok = writable("release"); !ok) return fail(ok.error());
  auto leases = leases_of(network, container_id, ifname);
  if (!leases) return fail(leases.error());
  for (const auto& l : *leases) {
    if (auto ok = del_lease(l); !ok) return fail(ok.error());
  }
  return static_cast<int>(leases->size());
}

Expected<bool> SqliteTxn::release_address(std::string_view network, const net::IpAddr& address) {
  if (auto ok = writable("release"); !ok) return fail(ok.error());
  auto lease = get_lease(network, address);
  if (!lease) return fail(lease.error());
  if (!*lease) return false;
  if (auto ok = del_lease(**lease); !ok) return fail(ok.error());
  return true;
}

Expected<std::vector<Lease>> SqliteTxn::list_leases(std::string_view network) {
  if (network.empty()) {
    return collect_leases(db_.query(
        "SELECT network, addr, range_set, container_id, ifname, netns, created FROM leases "
        "ORDER BY network, addr"));
  }
  return collect_leases(
      db_.query("SELECT network, addr, range_set, container_id, ifname, netns, created FROM leases "
                "WHERE network = ? ORDER BY addr",
                network));
}

Expected<uint64_t> SqliteTxn::count_leases(std::string_view network, const net::IpAddr& from,
                                           const net::IpAddr& to) {
  if (auto ok = same_family(from, to); !ok) return fail(ok.error());
  auto q = db_.query("SELECT count(*) FROM leases WHERE network = ? AND addr BETWEEN ? AND ?",
                     network, AddrKey(from).blob(), AddrKey(to).blob());
  if (!q) return fail(q.error());
  auto row = q->next();
  if (!row) return fail(row.error());
  return static_cast<uint64_t>(q->integer(0));
}

// Cursors.

Expected<std::optional<net::IpAddr>> SqliteTxn::get_cursor(std::string_view network,
                                                           int range_set) {
  auto q =
      db_.query("SELECT addr FROM cursors WHERE network = ? AND range_set = ?", network, range_set);
  if (!q) return fail(q.error());
  auto row = q->next();
  if (!row) return fail(row.error());
  if (!*row) return std::nullopt;
  auto a = decode_addr(q->blob(0));
  if (!a) return fail(a.error());
  return std::optional(*a);
}

Expected<void> SqliteTxn::set_cursor(std::string_view network, int range_set,
                                     const net::IpAddr& address) {
  if (auto ok = writable("set cursor"); !ok) return ok;
  auto r = db_.run("INSERT OR REPLACE INTO cursors (network, range_set, addr) VALUES (?, ?, ?)",
                   network, range_set, AddrKey(address).blob());
  if (!r) return fail(r.error());
  return {};
}

// Meta.

Expected<std::optional<std::string>> SqliteTxn::get_meta(std::string_view key) {
  auto q = db_.query("SELECT value FROM meta WHERE key = ?", key);
  if (!q) return fail(q.error());
  auto row = q->next();
  if (!row) return fail(row.error());
  if (!*row) return std::nullopt;
  return std::optional(q->text(0));
}

Expected<void> SqliteTxn::put_meta(std::string_view key, std::string_view value) {
  if (auto ok = writable("put meta"); !ok) return ok;
  auto r = db_.run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  if (!r) return fail(r.error());
  return {};
}

}  // namespace weir::store::sqlite
