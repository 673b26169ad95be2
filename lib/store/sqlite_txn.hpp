// The record operations of the SQLite backend (internal to lib/store).
#pragma once

#include <optional>
#include <utility>

#include "lib/store/key.hpp"
#include "lib/store/sqlite_db.hpp"
#include "lib/store/store.hpp"

namespace weir::store::sqlite {

// A run of consecutive leased addresses [first, last].
struct Run {
  net::IpAddr first;
  net::IpAddr last;
  friend bool operator==(const Run&, const Run&) = default;
};

class SqliteTxn final : public Txn {
 public:
  SqliteTxn(Db& db, bool writable) : db_(db), writable_(writable) {}

  Expected<std::optional<NetworkRecord>> get_network(std::string_view name) override;
  Expected<void> put_network(const NetworkRecord& network) override;
  Expected<std::vector<NetworkRecord>> list_networks() override;
  Expected<void> del_network(std::string_view name) override;

  Expected<bool> claim(const Lease& lease) override;
  Expected<std::optional<Lease>> get_lease(std::string_view network,
                                           const net::IpAddr& address) override;
  Expected<std::optional<net::IpAddr>> first_free(std::string_view network, const net::IpAddr& from,
                                                  const net::IpAddr& to) override;
  Expected<std::vector<Lease>> leases_of(std::string_view network, std::string_view container_id,
                                         std::string_view ifname) override;
  Expected<int> release(std::string_view network, std::string_view container_id,
                        std::string_view ifname) override;
  Expected<bool> release_address(std::string_view network, const net::IpAddr& address) override;
  Expected<std::vector<Lease>> list_leases(std::string_view network) override;
  Expected<uint64_t> count_leases(std::string_view network, const net::IpAddr& from,
                                  const net::IpAddr& to) override;

  Expected<std::optional<net::IpAddr>> get_cursor(std::string_view network, int range_set) override;
  Expected<void> set_cursor(std::string_view network, int range_set,
                            const net::IpAddr& address) override;

  Expected<void> put_endpoint(const Endpoint& endpoint) override;
  Expected<std::optional<Endpoint>> get_endpoint(std::string_view network,
                                                 std::string_view container_id,
                                                 std::string_view ifname) override;
  Expected<void> del_endpoint(std::string_view network, std::string_view container_id,
                              std::string_view ifname) override;
  Expected<std::vector<Endpoint>> list_endpoints(std::string_view network) override;
  Expected<bool> has_endpoints(std::string_view network) override;
  Expected<std::vector<Endpoint>> endpoints_named(std::string_view network,
                                                  std::string_view name) override;

  Expected<std::optional<std::string>> get_meta(std::string_view key) override;
  Expected<void> put_meta(std::string_view key, std::string_view value) override;

  // The run index (runs.cpp).
  Expected<std::optional<Run>> run_containing(std::string_view network, const net::IpAddr& a);
  Expected<void> runs_add(std::string_view network, const net::IpAddr& a);
  Expected<void> runs_remove(std::string_view network, const net::IpAddr& a);
  Expected<std::vector<std::pair<std::string, Run>>> list_runs();

 private:
  Expected<void> writable(std::string_view what) const;
  Expected<void> del_lease(const Lease& lease);

  Db& db_;
  bool writable_;
};

// The runs that a list of leases (ordered by network, then address) implies.
std::vector<std::pair<std::string, Run>> runs_of(const std::vector<Lease>& leases);

}  // namespace weir::store::sqlite
