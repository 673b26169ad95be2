// The cluster store: weir's records in etcd v3 (lib/etcd/client.hpp), shared by every host.
//
// A transaction keeps its meaning (etcd's own STM does the same): the callback's reads are
// recorded with the revisions they saw (every read of one transaction at the revision of its
// first read: a consistent snapshot); its writes are buffered (a read sees the transaction's own
// writes) and commit in ONE etcd txn whose compares check that no key read has changed since
// (absent = create_revision 0). On a conflict the callback runs again (after a short random
// pause), at most `max_attempts` times, then code 11: it must not act outside the store before
// transact() returns. A claim reads the lease key, so two hosts claiming one address conflict
// and one of them finds it taken. A view() commits nothing and never conflicts; a transaction
// that only read commits nothing either (its reads were one snapshot).
//
// What a transaction guarantees here, next to SQLite (where writers are serialized outright):
// - Point reads (get_*, claim, release_address, put_endpoint/del_endpoint's read of the old
//   record, get_meta) are guarded: the commit fails if any such key changed, so a transaction
//   built on them is serializable. "No address leased twice" rests on claim alone. get_cursor
//   is not: the round-robin cursor is a hint, and hosts allocating from one network at once
//   must not conflict on it (each resumes from the one it last wrote or read; the last writer's
//   is the one stored).
// - leases_of (hence release) guards its whole range: the keys it returned (a release never
//   deletes a lease that another host released and someone claimed again meanwhile) and any
//   key created in it (one compare over the range: every mod revision below the snapshot's
//   + 1), so two ADDs of one attachment racing on two hosts end with one lease, which both
//   return.
// - The other range reads (list_*, first_free, count_leases, has_endpoints, endpoints_named)
//   are a consistent snapshot but do not guard the commit: a key created or deleted in their
//   range by another host meanwhile goes unnoticed. first_free's answer is only a candidate
//   (claim guards it); a list used to decide a write may be stale by the time it commits, and
//   "the last endpoint of a network is gone" is true at the snapshot only.
// - etcd takes at most --max-txn-ops (128) compares and 128 writes per txn: a bigger
//   transaction fails with code 102 and writes nothing (atomicity first; it is not split).
// - A commit whose answer is lost (etcd went away after receiving it) fails with code 11 but may
//   have happened; running the call again is safe (claims find their lease, deletes tolerate
//   absence).
// - A transaction reads at one revision: if etcd compacts it away mid-transaction, the attempt
//   counts as a conflict and runs again on a new snapshot (view(): fails with code 102).
// - A store remembers the records its write transactions read by key and wrote (with the mod
//   revision each had), and a later write transaction's point read of one is answered from
//   there, without a request: weir-agent's calls on one network read the same network record,
//   cursor and boot id every time. The commit compares the remembered mod revision like any
//   other, so a record another writer changed is a conflict: the store forgets all it
//   remembered and the callback runs again on fresh reads. The same for the ranges leases_of
//   guarded, with what the transaction wrote in them (a DEL after its ADD reads nothing): the
//   range's compare (nothing created or changed in it since) and each key's catch any change. A
//   callback that fails after such a read runs again on fresh reads too before its error is
//   reported, and one that only read sends its compares alone (a read-only txn, nothing written).
//   view() always reads etcd.
//
// Layout under the prefix (documented in README "The etcd store"; each part of a key
// percent-encodes '/' and '%'; records are JSON objects with the fields of store.hpp's structs,
// addresses and CIDRs as text):
//   <p>/version                                   layout version ("1")
//   <p>/networks/<network>                        NetworkRecord
//   <p>/leases/<network>/<address key>            Lease; address key: "4-" + 8 hex digits or
//                                                 "6-" + 32, so keys sort as addresses do
//   <p>/attachments/<network>/<container>/<ifname>/<address key>   a copy of the Lease (leases_of
//                                                 and release in one range read)
//   <p>/cursors/<network>/<range set>             the last address allocated (text)
//   <p>/endpoints/<network>/<container>/<ifname>  Endpoint
//   <p>/names/<network>/<name>/<container>/<ifname>   a copy of the Endpoint, under each of its
//                                                 names and aliases in ASCII lower case
//                                                 (endpoints_named in one range read)
//   <p>/meta/<host>/<key>                         meta of one host (the boot id of its last sweep)
//   <p>/hosts/<host>                              the host's presence (details JSON), on an etcd
//                                                 lease its weir-agent keeps alive (register_host)
// A record and its copies are written and deleted in the same txn. Lists come back in the SQLite
// backend's order (by name, by network and address, by network, container and ifname).
//
// Leases and endpoints are NOT on an etcd lease: a host cut off from etcd for longer than a TTL
// keeps its addresses (its containers still use them); only its presence record expires, and
// register_host() makes a new one when it is back.
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
  // Runs of a transaction's callback before code 11. An attempt fails only when another writer
  // committed a key it read, so this bounds how many commits may overtake it: hosts allocating
  // from one range at once all aim at its lowest free address, and one transaction of 8 such
  // hosts took up to 24 runs (tests/unit/store_etcd_test.cpp). With the pauses between runs
  // (< 50 ms each) 64 runs take at most ~3 s, as SQLite's busy timeout (10 s) bounds a wait.
  int max_attempts = 64;
  int max_txn_ops = 128;  // the cluster's --max-txn-ops: larger commits fail with 102
};

// One transaction at a time per EtcdStore (its calls take turns on its one client); a process
// that wants parallel transactions opens one EtcdStore per thread.
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
  Expected<int64_t> keep_presence(int64_t ttl_seconds, const std::string& details_json) override {
    return register_host(ttl_seconds, details_json);
  }
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
