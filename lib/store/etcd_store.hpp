// The cluster store: weir's records in etcd v3 (lib/etcd/client.hpp), shared by every host.
//
// A transaction keeps its meaning (etcd's own STM does the same): the callback's reads are
// recorded with the revisions they saw (every read of one transaction at the revision of its
// first read: a consistent snapshot); its writes are buffered (a read sees the transaction's own
// writes) and commit in ONE etcd txn whose compares check that no key read has changed since
// (absent = create_revision 0). On a conflict the callback runs again, at most `max_attempts`
// times, then code 11. A claim reads the lease key, so two hosts claiming one address conflict
// and one of them finds it taken. A view() commits nothing and never conflicts.
//
// Layout under the prefix (documented in README "The etcd store"; each part of a key
// percent-encodes '/' and '%'):
//   <p>/version                                   layout version ("1")
//   <p>/networks/<network>                        NetworkRecord (JSON)
//   <p>/leases/<network>/<address key>            Lease (JSON); address key: "4-" + 8 hex digits
//                                                 or "6-" + 32, so keys sort as addresses do
//   <p>/attachments/<network>/<container>/<ifname>/<address key>   "" (index: leases_of, release)
//   <p>/cursors/<network>/<range set>             the last address allocated (text)
//   <p>/endpoints/<network>/<container>/<ifname>  Endpoint (JSON)
//   <p>/names/<network>/<name>/<container>/<ifname>   "" (index: endpoints_named)
//   <p>/meta/<host>/<key>                         meta of one host (the boot id of its last sweep)
//   <p>/hosts/<host>                              the host's presence, on an etcd lease its
//                                                 weir-agent keeps alive (register_host)
//
// Leases and endpoints are NOT on an etcd lease: a host cut off from etcd for longer than a TTL
// keeps its addresses (its containers still use them); only its presence record expires.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lib/etcd/client.hpp"
#include "lib/store/store.hpp"

namespace weir::store {

struct EtcdOptions {
  std::string prefix = "/weir";  // no trailing '/'
  std::string host;              // this host's name (required): written into its records
  int max_attempts = 16;         // runs of a transaction's callback before code 11
};

class EtcdStore final : public Store {
 public:
  // Makes the client and checks the layout version (writing it on an empty prefix). Fails with
  // code 11 naming the endpoints when none answers, 102 on a layout it does not know.
  static Expected<std::unique_ptr<EtcdStore>> open(const etcd::Config& config, EtcdOptions options);
  ~EtcdStore() override;

  Expected<void> transact(const TxnFn& fn) override;
  Expected<void> view(const TxnFn& fn) override;
  std::string_view host() const override;

  // This host's presence: <p>/hosts/<host> on an etcd lease of `ttl_seconds`, kept alive by
  // calling it again (a lease that expired meanwhile is replaced). Returns the TTL left.
  Expected<int64_t> register_host(int64_t ttl_seconds, const std::string& details_json);
  // The hosts present: name → details JSON.
  Expected<std::vector<std::pair<std::string, std::string>>> hosts();

  const EtcdOptions& options() const;
  etcd::Client& client();

 private:
  struct Impl;
  explicit EtcdStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weir::store
