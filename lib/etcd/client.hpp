// An etcd v3 client over etcd's gRPC JSON gateway (POST /v3/...), with libcurl: the key-value
// calls weir's etcd store needs (range, put, delete, txn), leases, a status probe and watches.
// One keep-alive connection per Client, reused across calls; a long-lived process (weir-agent)
// keeps its Client. A Client (and a Watch) is used by one thread at a time.
//
// Endpoints are tried in turn, starting with the last one that answered; each attempt is bounded
// by `timeout` (connect and answer). When none answers the call fails with code 11 (try again
// later) and a message naming every endpoint and why it failed; an answer that is an etcd error
// (a gRPC status in the body, HTTP 4xx/5xx) fails with code 102 (kStore) naming the endpoint and
// etcd's message, and is not retried on another endpoint.
//
// UNAVAILABLE (gRPC 14: "etcdserver: no leader", "request timed out", "server stopped") is about
// the member, not the request: like a member that does not answer, the next endpoint is tried.
// A TLS failure (unknown CA, refused client certificate) makes an endpoint unusable too: code 11,
// the TLS reason in the message.
//
// Wire facts (etcd 3.4): keys and values are standard base64 with padding; int64 fields come
// back as JSON strings; fields at their proto3 default are omitted (a failed txn has no
// "succeeded", a PUT watch event no "type"). This header speaks plain strings and integers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"

namespace weir::etcd {

struct Tls {
  std::string ca;    // PEM file of the CA that signed the members' certificates ("" = system's)
  std::string cert;  // client certificate PEM file ("" = none)
  std::string key;   // its private key PEM file
  friend bool operator==(const Tls&, const Tls&) = default;
};

struct Config {
  std::vector<std::string> endpoints;  // "https://10.0.0.5:2379", "http://127.0.0.1:2379"
  Tls tls;
  std::chrono::milliseconds timeout{2000};  // per attempt, per endpoint
  friend bool operator==(const Config&, const Config&) = default;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct RangeRequest {
  std::string key;
  std::string range_end;  // "" = the key alone; prefix_end(p) = every key under p
  int64_t limit = 0;      // 0 = no limit
  int64_t revision = 0;   // 0 = the newest; else read the store as it was then
  bool keys_only = false;
  bool count_only = false;
};

struct RangeResult {
  int64_t revision = 0;  // the store's revision the read saw
  std::vector<KeyValue> kvs;
  int64_t count = 0;  // keys in the range, whatever the limit
  bool more = false;  // the limit cut the answer short
};

// One condition of a txn: key's target compared with a number (create/mod revision, version)
// or with a value. With range_end, every key in [key, range_end) must satisfy it (an empty
// range compares as one absent key: every revision 0).
struct Compare {
  enum class Target { kCreate, kMod, kVersion, kValue };
  enum class Result { kEqual, kNotEqual, kLess, kGreater };
  std::string key;
  std::string range_end;  // "" = the key alone
  Target target = Target::kMod;
  Result result = Result::kEqual;
  int64_t number = 0;
  std::string value;
};

// One operation of a txn.
struct Op {
  enum class Kind { kPut, kDelete, kRange };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;      // kPut
  int64_t lease = 0;      // kPut: 0 = none
  std::string range_end;  // kDelete, kRange: as in RangeRequest
  static Op put(std::string key, std::string value, int64_t lease = 0);
  static Op del(std::string key, std::string range_end = {});
  static Op get(std::string key, std::string range_end = {});
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<RangeResult> ranges;  // one per kRange op of the branch taken, in order
};

struct Status {
  std::string endpoint;
  std::string version;  // etcd's, "3.4.23"
  int64_t revision = 0;
  uint64_t leader = 0;  // member ids are uint64 in etcd (they often exceed INT64_MAX)
  uint64_t member = 0;
  int64_t db_size = 0;
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for kDelete: key and mod_revision only
};

// What a watch delivers at a time: events, or that etcd compacted the revision it was to start
// from (the caller re-lists, then watches from the list's revision + 1).
struct WatchBatch {
  std::vector<WatchEvent> events;
  int64_t compact_revision = 0;  // > 0: cancelled, history before it is gone
};

class Watch;

class Client {
 public:
  // Checks the config (at least one endpoint, each http:// or https:// with no path, TLS files
  // readable, cert and key together, timeout > 0); makes no request. Code 7 naming the field as
  // weir's config spells it: "store.endpoints[1]: …", "store.tls.ca: …", "store.timeoutMs: …".
  static Expected<Client> make(Config config);
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  Expected<RangeResult> range(const RangeRequest& request);
  Expected<int64_t> put(std::string_view key, std::string_view value,
                        int64_t lease = 0);                                      // revision
  Expected<int64_t> del(std::string_view key, std::string_view range_end = {});  // how many deleted
  Expected<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                          const std::vector<Op>& failure = {});

  Expected<int64_t> lease_grant(int64_t ttl_seconds);  // the lease id
  Expected<int64_t> lease_keepalive(int64_t lease);    // TTL left; 0 or less = the lease is gone
  Expected<void> lease_revoke(int64_t lease);          // a lease already gone is success
  Expected<int64_t> lease_ttl(int64_t lease);          // TTL left; -1 = no such lease

  // The member behind one endpoint (for weirctl store status): asks that endpoint only.
  Expected<Status> status(const std::string& endpoint);

  // A watch on [key, range_end) from `start_revision` (0 = from now), on a connection of its
  // own, with Grpc-Metadata-hasleader so that a member cut off from its cluster fails the
  // watch instead of leaving it silent.
  Expected<Watch> watch(std::string key, std::string range_end, int64_t start_revision);

  const Config& config() const;
  // Requests sent (each attempt on each endpoint counts one): what a call costs.
  uint64_t requests() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Watch {
 public:
  Watch(Watch&&) noexcept;
  Watch& operator=(Watch&&) noexcept;
  ~Watch();
  // The next events, waiting at most `wait`: an empty batch when none came. Fails (code 11)
  // when the stream broke (endpoint down, no leader): the caller re-lists and watches again.
  Expected<WatchBatch> next(std::chrono::milliseconds wait);

 private:
  friend class Client;
  struct Impl;
  explicit Watch(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The gRPC status code of an etcd error answer (a code 102 error of this client), 0 for any other
// error. It rides in the error's details as "grpc-status: N". Worth branching on: 11 OUT_OF_RANGE
// ("mvcc: required revision has been compacted", or a future revision), 3 INVALID_ARGUMENT
// (e.g. "too many operations in txn request": more than etcd's --max-txn-ops, 128 by default),
// 5 NOT_FOUND ("requested lease not found"), 9 FAILED_PRECONDITION.
int grpc_status(const cni::Error& error);

// The range end that covers every key starting with prefix (its last byte incremented; "\0"
// when the prefix is empty or all 0xff, etcd's "every key").
std::string prefix_end(std::string_view prefix);

}  // namespace weir::etcd
