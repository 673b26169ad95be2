// Endpoint records of the SQLite backend, with their names and aliases indexed for DNS.
#include <algorithm>

#include "lib/store/codec.hpp"
#include "lib/store/sqlite_txn.hpp"

namespace weir::store::sqlite {

namespace {

Expected<Endpoint> endpoint_from_row(const Query& q) {
  auto ips = cidrs_from_json(q.text(6));
  auto names = strings_from_json(q.text(7));
  auto aliases = strings_from_json(q.text(8));
  if (!ips) return fail(ips.error());
  if (!names) return fail(names.error());
  if (!aliases) return fail(aliases.error());
  return Endpoint{.network = q.text(0),
                  .container_id = q.text(1),
                  .ifname = q.text(2),
                  .netns = q.text(3),
                  .mac = q.text(4),
                  .host_ifname = q.text(5),
                  .ips = std::move(*ips),
                  .names = std::move(*names),
                  .aliases = std::move(*aliases),
                  .extra = q.text(9),
                  .created = q.integer(10)};
}

Expected<std::vector<Endpoint>> collect_endpoints(Expected<Query> q) {
  if (!q) return fail(q.error());
  std::vector<Endpoint> out;
  for (;;) {
    auto row = q->next();
    if (!row) return fail(row.error());
    if (!*row) return out;
    auto e = endpoint_from_row(*q);
    if (!e) return fail(e.error());
    out.push_back(std::move(*e));
  }
}

}  // namespace

Expected<void> SqliteTxn::put_endpoint(const Endpoint& e) {
  if (auto ok = writable("put endpoint"); !ok) return ok;
  // Replacing an endpoint replaces its names: drop the old ones first.
  if (auto ok = del_endpoint(e.network, e.container_id, e.ifname); !ok) return ok;
  auto r = db_.run(
      "INSERT INTO endpoints (network, container_id, ifname, netns, mac, host_ifname, ips, "
      "names, aliases, extra, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      e.network, e.container_id, e.ifname, e.netns, e.mac, e.host_ifname, cidrs_to_json(e.ips),
      strings_to_json(e.names), strings_to_json(e.aliases), e.extra, e.created);
  if (!r) return fail(r.error());
  std::vector<std::string> all = e.names;
  all.insert(all.end(), e.aliases.begin(), e.aliases.end());
  for (const auto& name : all) {
    r = db_.run(
        "INSERT OR IGNORE INTO endpoint_names (network, name, container_id, ifname) "
        "VALUES (?, ?, ?, ?)",
        e.network, name, e.container_id, e.ifname);
    if (!r) return fail(r.error());
  }
  return {};
}

Expected<std::optional<Endpoint>> SqliteTxn::get_endpoint(std::string_view network,
                                                          std::string_view container_id,
                                                          std::string_view ifname) {
  auto found = collect_endpoints(db_.query(
      "SELECT network, container_id, ifname, netns, mac, host_ifname, ips, names, aliases, "
      "extra, created FROM endpoints WHERE network = ? AND container_id = ? AND ifname = ?",
      network, container_id, ifname));
  if (!found) return fail(found.error());
  if (found->empty()) return std::nullopt;
  return std::optional(std::move(found->front()));
}

Expected<void> SqliteTxn::del_endpoint(std::string_view network, std::string_view container_id,
                                       std::string_view ifname) {
  if (auto ok = writable("delete endpoint"); !ok) return ok;
  auto r =
      db_.run("DELETE FROM endpoint_names WHERE network = ? AND container_id = ? AND ifname = ?",
              network, container_id, ifname);
  if (r) {
    r = db_.run("DELETE FROM endpoints WHERE network = ? AND container_id = ? AND ifname = ?",
                network, container_id, ifname);
  }
  if (!r) return fail(r.error());
  return {};
}

Expected<std::vector<Endpoint>> SqliteTxn::list_endpoints(std::string_view network) {
  if (network.empty()) {
    return collect_endpoints(db_.query(
        "SELECT network, container_id, ifname, netns, mac, host_ifname, ips, names, aliases, "
        "extra, created FROM endpoints ORDER BY network, container_id, ifname"));
  }
  return collect_endpoints(db_.query(
      "SELECT network, container_id, ifname, netns, mac, host_ifname, ips, names, aliases, "
      "extra, created FROM endpoints WHERE network = ? ORDER BY container_id, ifname",
      network));
}

Expected<bool> SqliteTxn::has_endpoints(std::string_view network) {
  auto q = network.empty()
               ? db_.query("SELECT 1 FROM endpoints LIMIT 1")
               : db_.query("SELECT 1 FROM endpoints WHERE network = ? LIMIT 1", network);
  if (!q) return fail(q.error());
  auto row = q->next();
  if (!row) return fail(row.error());
  return *row;
}

Expected<std::vector<Endpoint>> SqliteTxn::endpoints_named(std::string_view network,
                                                           std::string_view name) {
  // CROSS JOIN keeps the name index as the outer loop (SQLite does not reorder it); left to
  // itself the planner walks every endpoint of the network.
  return collect_endpoints(db_.query(
      "SELECT e.network, e.container_id, e.ifname, e.netns, e.mac, e.host_ifname, e.ips, "
      "e.names, e.aliases, e.extra, e.created FROM endpoint_names n CROSS JOIN endpoints e "
      "ON e.network = n.network AND e.container_id = n.container_id AND e.ifname = n.ifname "
      "WHERE n.network = ? AND n.name = ? ORDER BY e.container_id, e.ifname",
      network, name));
}

}  // namespace weir::store::sqlite
