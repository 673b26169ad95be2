// The run index: maximal runs of consecutive leased addresses per network, updated by the same
// transaction as the lease itself. A free address is then found with one lookup (the run that
// holds the candidate, if any, ends right before a free address) instead of walking leases.
#include "lib/store/sqlite_txn.hpp"

namespace weir::store::sqlite {

namespace {

// Neighbours within the family: the all-zeros and all-ones addresses have none on one side.
std::optional<net::IpAddr> before(const net::IpAddr& a) {
  if (a.is_unspecified()) return std::nullopt;
  return a.prev();
}

std::optional<net::IpAddr> after(const net::IpAddr& a) {
  net::IpAddr n = a.next();
  if (n.is_unspecified()) return std::nullopt;  // wrapped around
  return n;
}

cni::Error out_of_step(std::string_view network, const net::IpAddr& a) {
  return cni::make_error(
      cni::Code::kStore,
      "store: lease index of network \"" + std::string(network) + "\" has no run for " + a.str());
}

}  // namespace

Expected<std::optional<Run>> SqliteTxn::run_containing(std::string_view network,
                                                       const net::IpAddr& a) {
  auto q = db_.query(
      "SELECT first, last FROM lease_runs WHERE network = ? AND first <= ? "
      "ORDER BY first DESC LIMIT 1",
      network, AddrKey(a).blob());
  if (!q) return fail(q.error());
  auto row = q->next();
  if (!row) return fail(row.error());
  if (!*row) return std::nullopt;
  auto first = decode_addr(q->blob(0));
  if (!first) return fail(first.error());
  auto last = decode_addr(q->blob(1));
  if (!last) return fail(last.error());
  // The nearest run may belong to the other family (it sorts before); it then holds nothing.
  if (last->family() != a.family() || *last < a) return std::nullopt;
  return std::optional(Run{*first, *last});
}

Expected<void> SqliteTxn::runs_add(std::string_view network, const net::IpAddr& a) {
  std::optional<Run> left;
  if (auto prev = before(a)) {
    auto r = run_containing(network, *prev);
    if (!r) return fail(r.error());
    left = *r;
  }
  std::optional<Run> right;
  if (auto next = after(a)) {
    auto r = run_containing(network, *next);
    if (!r) return fail(r.error());
    if (*r && (*r)->first == *next) right = *r;
  }
  Expected<int> r = 0;
  if (left && right) {
    r = db_.run("DELETE FROM lease_runs WHERE network = ? AND first = ?", network,
                AddrKey(right->first).blob());
    if (r) {
      r = db_.run("UPDATE lease_runs SET last = ? WHERE network = ? AND first = ?",
                  AddrKey(right->last).blob(), network, AddrKey(left->first).blob());
    }
  } else if (left) {
    r = db_.run("UPDATE lease_runs SET last = ? WHERE network = ? AND first = ?", AddrKey(a).blob(),
                network, AddrKey(left->first).blob());
  } else if (right) {
    r = db_.run("UPDATE lease_runs SET first = ? WHERE network = ? AND first = ?",
                AddrKey(a).blob(), network, AddrKey(right->first).blob());
  } else {
    r = db_.run("INSERT INTO lease_runs (network, first, last) VALUES (?, ?, ?)", network,
                AddrKey(a).blob(), AddrKey(a).blob());
  }
  if (!r) return fail(r.error());
  return {};
}

Expected<void> SqliteTxn::runs_remove(std::string_view network, const net::IpAddr& a) {
  auto found = run_containing(network, a);
  if (!found) return fail(found.error());
  if (!*found) return fail(out_of_step(network, a));
  const Run run = **found;
  const AddrKey first(run.first);
  Expected<int> r = 0;
  if (run.first == a && run.last == a) {
    r = db_.run("DELETE FROM lease_runs WHERE network = ? AND first = ?", network, first.blob());
  } else if (run.first == a) {
    r = db_.run("UPDATE lease_runs SET first = ? WHERE network = ? AND first = ?",
                AddrKey(a.next()).blob(), network, first.blob());
  } else {
    // Cut the run before a; what follows a (if anything) becomes a run of its own.
    r = db_.run("UPDATE lease_runs SET last = ? WHERE network = ? AND first = ?",
                AddrKey(a.prev()).blob(), network, first.blob());
    if (r && run.last != a) {
      r = db_.run("INSERT INTO lease_runs (network, first, last) VALUES (?, ?, ?)", network,
                  AddrKey(a.next()).blob(), AddrKey(run.last).blob());
    }
  }
  if (!r) return fail(r.error());
  return {};
}

Expected<std::vector<std::pair<std::string, Run>>> SqliteTxn::list_runs() {
  auto q = db_.query("SELECT network, first, last FROM lease_runs ORDER BY network, first");
  if (!q) return fail(q.error());
  std::vector<std::pair<std::string, Run>> out;
  for (;;) {
    auto row = q->next();
    if (!row) return fail(row.error());
    if (!*row) return out;
    auto first = decode_addr(q->blob(1));
    if (!first) return fail(first.error());
    auto last = decode_addr(q->blob(2));
    if (!last) return fail(last.error());
    out.emplace_back(q->text(0), Run{*first, *last});
  }
}

std::vector<std::pair<std::string, Run>> runs_of(const std::vector<Lease>& leases) {
  std::vector<std::pair<std::string, Run>> out;
  for (const auto& l : leases) {
    if (!out.empty() && out.back().first == l.network &&
        out.back().second.last.family() == l.address.family() &&
        after(out.back().second.last) == l.address) {
      out.back().second.last = l.address;
    } else {
      out.emplace_back(l.network, Run{l.address, l.address});
    }
  }
  return out;
}

}  // namespace weir::store::sqlite
