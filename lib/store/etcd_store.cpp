#include "lib/store/etcd_store.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "lib/store/etcd_layout.hpp"

namespace weir::store {

namespace {

using etcd_layout::Keys;

constexpr std::string_view kLayoutVersion = "1";

// first_free pages through lease keys: a first page this small answers the common case (the
// address after the round-robin cursor is free) with a few keys, and pages grow so that a long
// run of leased addresses costs a few requests, not one per address.
constexpr int64_t kFirstPage = 8;
constexpr int64_t kMaxPage = 512;

// The range end that covers exactly [from, to] when both are keys of one family under one
// prefix: the smallest key after `to`.
std::string inclusive_end(std::string key) {
  key.push_back('\0');
  return key;
}

bool in_range(const std::string& key, const std::string& start, const std::string& end) {
  return key >= start && (end.empty() ? key == start : key < end);
}

Expected<void> same_family(const net::IpAddr& from, const net::IpAddr& to) {
  if (from.family() == to.family()) return {};
  return fail(
      cni::internal("store: address range " + from.str() + " - " + to.str() + " mixes families"));
}

// What one attempt of a transaction knows of a key as etcd had it at the attempt's revision.
struct Seen {
  bool present = false;
  int64_t mod_revision = 0;
  std::optional<std::string> value;  // nullopt: seen by a keys-only read
};

// A guarded range [start, end) as a transaction saw it: no key in it was created or changed
// after `revision`, and these are its keys.
struct SeenRange {
  std::string end;
  int64_t revision = 0;
  std::set<std::string> keys;
};

// What a store remembers from its write transactions (see EtcdStore::transact): the records
// one host's calls read again and again (its networks, cursors, boot id, endpoints) and the
// attachments it leased (a DEL's leases_of), not a copy of the cluster. Past this many keys
// and ranges it starts over.
constexpr size_t kCacheKeys = 4096;
struct Cache {
  std::map<std::string, Seen> keys;
  std::map<std::string, SeenRange> ranges;  // by start
  size_t size() const { return keys.size() + ranges.size(); }
  void clear() {
    keys.clear();
    ranges.clear();
  }
};

// One attempt of a transaction: reads at one revision, writes buffered (see etcd_store.hpp).
class EtcdTxn final : public Txn {
 public:
  // `cache`: what earlier write transactions read and wrote (nullptr for a view).
  EtcdTxn(etcd::Client& client, const Keys& keys, const EtcdOptions& options, Cache* cache)
      : client_(client),
        keys_(keys),
        options_(options),
        writable_(cache != nullptr),
        cache_(cache) {}

  // Sends the writes in one etcd txn guarded by the reads: false when a read changed meanwhile.
  // Commits, then remembers what it read by key and wrote; a conflict forgets all it remembers.
  Expected<bool> commit();
  // etcd compacted the revision this attempt reads at: a conflict too (run it again).
  bool compacted() const { return compacted_; }
  // Some read was answered from the cache: a failure of the callback may come from a stale
  // record (run it again on fresh reads before reporting it) — unless etcd itself failed a
  // request (unreachable: running it again would only wait again).
  bool used_cache() const { return used_cache_; }
  bool request_failed() const { return request_failed_; }
  std::string_view host() const override { return options_.host; }

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

 private:
  using KeyValues = std::vector<std::pair<std::string, std::string>>;

  Expected<etcd::RangeResult> range(etcd::RangeRequest request);
  // A key's value as this transaction sees it (its own writes first), recorded for the commit.
  Expected<std::optional<std::string>> get(const std::string& key);
  // The same, not recorded: a hint whose change by another writer must not conflict (the
  // round-robin cursor). Remembered like any read.
  Expected<std::optional<std::string>> peek(const std::string& key);
  // Reads a key from etcd into seen_ (remembered at commit).
  Expected<void> fetch(const std::string& key);
  // Whether the key exists as this transaction sees it, recorded for the commit.
  Expected<bool> exists(const std::string& key);
  // Whether the key existed at the snapshot (not recorded: for counting only).
  Expected<bool> existed(const std::string& key);
  // Every key under a prefix with its value, the transaction's writes merged, in key order.
  // `record`: the keys etcd returned guard the commit too.
  Expected<KeyValues> scan(const std::string& prefix, bool record = false);
  Expected<void> put(std::string key, std::string value);
  Expected<void> del(std::string key);
  Expected<void> writable(std::string_view what) const;
  void learn(const etcd::KeyValue& kv, bool with_value);
  void record(const std::string& key, const Seen& seen) { reads_.emplace(key, seen.mod_revision); }
  // The cache's record of a key this attempt has not read yet, made this attempt's: no request;
  // the commit's compare of its mod revision catches one that changed since.
  bool from_cache(const std::string& key);
  // A guarded range's keys and values from the cache, made this attempt's (guarded by the
  // remembered revision); false when the cache does not know all of it.
  bool range_from_cache(const std::string& start, const std::string& end,
                        std::map<std::string, std::string>& into);
  void remember(int64_t commit_revision);
  Expected<void> del_lease(const Lease& l);
  Expected<void> drop_names(const Endpoint& e);

  etcd::Client& client_;
  const Keys& keys_;
  const EtcdOptions& options_;
  bool writable_;
  int64_t revision_ = 0;  // of the first read; every later read is at it
  bool compacted_ = false;
  bool request_failed_ = false;
  Cache* cache_;
  bool used_cache_ = false;
  std::set<std::string> fetched_;  // keys get() read from etcd, with their values
  std::map<std::string, Seen> seen_;
  std::map<std::string, int64_t> reads_;  // key -> mod_revision seen (0 = absent)
  // Guarded ranges by start: no key in them created or changed after their revision.
  std::map<std::string, SeenRange> ranges_;
  std::map<std::string, std::optional<std::string>> writes_;  // nullopt = delete
};

Expected<void> EtcdTxn::writable(std::string_view what) const {
  if (writable_) return {};
  return fail(cni::internal("store: " + std::string(what) + " in a read-only transaction"));
}

Expected<etcd::RangeResult> EtcdTxn::range(etcd::RangeRequest request) {
  request.revision = revision_;
  auto r = client_.range(request);
  if (!r) {
    // OUT_OF_RANGE: "mvcc: required revision has been compacted".
    constexpr int kOutOfRange = 11;
    if (revision_ != 0 && etcd::grpc_status(r.error()) == kOutOfRange) compacted_ = true;
    request_failed_ = true;
    return fail(r.error());
  }
  if (revision_ == 0) revision_ = r->revision;
  return r;
}

void EtcdTxn::learn(const etcd::KeyValue& kv, bool with_value) {
  Seen& s = seen_[kv.key];
  s.present = true;
  s.mod_revision = kv.mod_revision;
  if (with_value) s.value = kv.value;
}

bool EtcdTxn::from_cache(const std::string& key) {
  if (cache_ == nullptr || seen_.contains(key)) return false;
  auto c = cache_->keys.find(key);
  if (c == cache_->keys.end()) return false;
  seen_.emplace(key, c->second);
  used_cache_ = true;
  return true;
}

Expected<void> EtcdTxn::fetch(const std::string& key) {
  auto r = range({.key = key});
  if (!r) return fail(r.error());
  if (r->kvs.empty()) {
    seen_[key] = Seen{};
  } else {
    learn(r->kvs.front(), true);
  }
  fetched_.insert(key);
  return {};
}

Expected<std::optional<std::string>> EtcdTxn::peek(const std::string& key) {
  if (auto w = writes_.find(key); w != writes_.end()) return w->second;
  if (auto s = seen_.find(key); s != seen_.end() && (!s->second.present || s->second.value)) {
    return s->second.value;
  }
  if (cache_ != nullptr) {
    if (auto c = cache_->keys.find(key); c != cache_->keys.end()) return c->second.value;
  }
  if (auto ok = fetch(key); !ok) return fail(ok.error());
  return seen_[key].value;
}

Expected<std::optional<std::string>> EtcdTxn::get(const std::string& key) {
  if (auto w = writes_.find(key); w != writes_.end()) return w->second;
  from_cache(key);
  auto s = seen_.find(key);
  if (s == seen_.end() || (s->second.present && !s->second.value)) {
    if (auto ok = fetch(key); !ok) return fail(ok.error());
    s = seen_.find(key);
  }
  record(key, s->second);
  return s->second.value;
}

Expected<bool> EtcdTxn::existed(const std::string& key) {
  auto s = seen_.find(key);
  if (s != seen_.end()) return s->second.present;
  auto r = range({.key = key, .keys_only = true});
  if (!r) return fail(r.error());
  if (r->kvs.empty()) {
    seen_[key] = Seen{};
    return false;
  }
  learn(r->kvs.front(), false);
  return true;
}

Expected<bool> EtcdTxn::exists(const std::string& key) {
  if (auto w = writes_.find(key); w != writes_.end()) return w->second.has_value();
  from_cache(key);
  auto was = existed(key);
  if (!was) return fail(was.error());
  record(key, seen_[key]);
  return *was;
}

bool EtcdTxn::range_from_cache(const std::string& start, const std::string& end,
                               std::map<std::string, std::string>& into) {
  if (cache_ == nullptr || ranges_.contains(start)) return false;
  auto r = cache_->ranges.find(start);
  if (r == cache_->ranges.end() || r->second.end != end) return false;
  for (const auto& key : r->second.keys) {
    auto c = cache_->keys.find(key);
    if (c == cache_->keys.end() || !c->second.value) return false;
  }
  for (const auto& key : r->second.keys) {
    const Seen& seen = seen_.emplace(key, cache_->keys[key]).first->second;
    record(key, seen);
    if (seen.value) into.emplace(key, *seen.value);
  }
  ranges_.emplace(start, r->second);
  used_cache_ = true;
  return true;
}

Expected<EtcdTxn::KeyValues> EtcdTxn::scan(const std::string& prefix, bool guard) {
  const std::string end = etcd::prefix_end(prefix);
  std::map<std::string, std::string> merged;
  if (!guard || !range_from_cache(prefix, end, merged)) {
    auto r = range({.key = prefix, .range_end = end});
    if (!r) return fail(r.error());
    // A key created in the range meanwhile conflicts too (each key returned guards its
    // deletion).
    SeenRange seen{.end = end, .revision = revision_};
    for (auto& kv : r->kvs) {
      learn(kv, true);
      if (guard) record(kv.key, seen_[kv.key]);
      seen.keys.insert(kv.key);
      merged.emplace(kv.key, std::move(kv.value));
    }
    if (guard) ranges_.emplace(prefix, std::move(seen));
  }
  for (auto w = writes_.lower_bound(prefix); w != writes_.end() && in_range(w->first, prefix, end);
       ++w) {
    if (w->second) {
      merged[w->first] = *w->second;
    } else {
      merged.erase(w->first);
    }
  }
  return KeyValues(merged.begin(), merged.end());
}

Expected<void> EtcdTxn::put(std::string key, std::string value) {
  writes_[std::move(key)] = std::move(value);
  return {};
}

Expected<void> EtcdTxn::del(std::string key) {
  writes_[std::move(key)] = std::nullopt;
  return {};
}

Expected<bool> EtcdTxn::commit() {
  // The reads were one snapshot: nothing to check, unless some came from the cache.
  if (writes_.empty() && !used_cache_) {
    if (cache_ != nullptr) remember(revision_);
    return true;
  }
  const auto limit = static_cast<size_t>(options_.max_txn_ops);
  if (writes_.empty() && reads_.size() + ranges_.size() > limit) {
    cache_->clear();  // too many remembered reads to check in one txn: run it again on fresh ones
    return false;
  }
  if (reads_.size() + ranges_.size() > limit || writes_.size() > limit) {
    return fail(cni::make_error(
        cni::Code::kStore,
        "etcd: a transaction of " + std::to_string(writes_.size()) + " writes guarded by " +
            std::to_string(reads_.size()) + " reads is more than etcd takes in one txn (" +
            std::to_string(limit) + " operations each, its --max-txn-ops); nothing was written"));
  }
  std::vector<etcd::Compare> compares;
  compares.reserve(reads_.size());
  for (const auto& [key, mod] : reads_) {
    // A key that was absent must still be: its create revision is 0 (etcd compares a missing
    // key as one with every revision 0).
    compares.push_back(
        {.key = key,
         .target = mod == 0 ? etcd::Compare::Target::kCreate : etcd::Compare::Target::kMod,
         .result = etcd::Compare::Result::kEqual,
         .number = mod});
  }
  for (const auto& [start, seen] : ranges_) {
    compares.push_back({.key = start,
                        .range_end = seen.end,
                        .target = etcd::Compare::Target::kMod,
                        .result = etcd::Compare::Result::kLess,
                        .number = seen.revision + 1});
  }
  std::vector<etcd::Op> ops;
  ops.reserve(writes_.size());
  for (const auto& [key, value] : writes_) {
    ops.push_back(value ? etcd::Op::put(key, *value) : etcd::Op::del(key));
  }
  // Without writes (only cached reads to check) a read-only txn: etcd writes nothing for it.
  auto r = client_.txn(compares, ops);
  if (!r) return fail(r.error());
  if (cache_ != nullptr) {
    if (r->succeeded) {
      remember(r->revision);
    } else {
      cache_->clear();  // which record changed is not said: none is trusted
    }
  }
  return r->succeeded;
}

// Every key written now has the commit's revision as its mod revision; a deleted one is absent.
// A range this attempt guarded held, at that revision, the keys it saw with its own writes; a
// remembered range it wrote into without guarding it is forgotten (others may have written
// there too).
void EtcdTxn::remember(int64_t commit_revision) {
  if (cache_->size() + fetched_.size() + writes_.size() + ranges_.size() > kCacheKeys) {
    cache_->clear();
  }
  for (const auto& key : fetched_) cache_->keys[key] = seen_[key];
  for (auto& [start, seen] : ranges_) {
    seen.revision = commit_revision;
    for (auto w = writes_.lower_bound(start); w != writes_.end() && w->first < seen.end; ++w) {
      if (w->second) {
        seen.keys.insert(w->first);
      } else {
        seen.keys.erase(w->first);
      }
    }
    for (const auto& key : seen.keys) {
      if (!writes_.contains(key)) cache_->keys[key] = seen_[key];
    }
    cache_->ranges[start] = std::move(seen);
  }
  for (const auto& [key, value] : writes_) {
    cache_->keys[key] =
        value ? Seen{.present = true, .mod_revision = commit_revision, .value = value} : Seen{};
    // The remembered range holding it, unless this attempt guarded it (just remembered).
    auto r = cache_->ranges.upper_bound(key);
    if (r == cache_->ranges.begin()) continue;
    --r;
    if (key < r->second.end && !ranges_.contains(r->first)) cache_->ranges.erase(r);
  }
}

// Networks.

Expected<std::optional<NetworkRecord>> EtcdTxn::get_network(std::string_view name) {
  const std::string key = keys_.network(name);
  auto v = get(key);
  if (!v) return fail(v.error());
  if (!*v) return std::nullopt;
  auto n = etcd_layout::decode_network(key, **v);
  if (!n) return fail(n.error());
  return std::optional(std::move(*n));
}

Expected<void> EtcdTxn::put_network(const NetworkRecord& n) {
  if (auto ok = writable("put network"); !ok) return ok;
  return put(keys_.network(n.name), etcd_layout::encode(n));
}

Expected<std::vector<NetworkRecord>> EtcdTxn::list_networks() {
  auto kvs = scan(keys_.networks());
  if (!kvs) return fail(kvs.error());
  std::vector<NetworkRecord> out;
  for (const auto& [key, value] : *kvs) {
    auto n = etcd_layout::decode_network(key, value);
    if (!n) return fail(n.error());
    out.push_back(std::move(*n));
  }
  // Keys sort by the encoded name; the SQLite backend by the name itself.
  std::ranges::sort(out, {}, &NetworkRecord::name);
  return out;
}

Expected<void> EtcdTxn::del_network(std::string_view name) {
  if (auto ok = writable("delete network"); !ok) return ok;
  return del(keys_.network(name));
}

// Leases: <p>/leases/<network>/<address> holds the lease; the attachment index holds a copy, so
// that leases_of is one range read. Both are written and deleted together.

Expected<bool> EtcdTxn::claim(const Lease& lease) {
  if (auto ok = writable("claim"); !ok) return fail(ok.error());
  const std::string key = keys_.lease(lease.network, lease.address);
  // The read guards the commit: of two hosts claiming one address, one commits and the other
  // runs again and finds it taken.
  auto taken = exists(key);
  if (!taken) return fail(taken.error());
  if (*taken) return false;
  Lease l = lease;
  if (l.host.empty()) l.host = options_.host;
  const std::string value = etcd_layout::encode(l);
  (void)put(keys_.attachment(l.network, l.container_id, l.ifname, l.address), value);
  (void)put(key, value);
  return true;
}

Expected<std::optional<Lease>> EtcdTxn::get_lease(std::string_view network,
                                                  const net::IpAddr& address) {
  const std::string key = keys_.lease(network, address);
  auto v = get(key);
  if (!v) return fail(v.error());
  if (!*v) return std::nullopt;
  auto l = etcd_layout::decode_lease(key, **v);
  if (!l) return fail(l.error());
  return std::optional(std::move(*l));
}

Expected<std::optional<net::IpAddr>> EtcdTxn::first_free(std::string_view network,
                                                         const net::IpAddr& from,
                                                         const net::IpAddr& to) {
  if (auto ok = same_family(from, to); !ok) return fail(ok.error());
  if (to < from) return std::nullopt;
  const std::string end = inclusive_end(keys_.lease(network, to));
  net::IpAddr cur = from;
  int64_t limit = kFirstPage;
  for (;;) {
    // The leased addresses from cur on, a page at a time; the first address that is neither
    // leased at the snapshot nor claimed by this transaction (or that it released) is free.
    const std::string start = keys_.lease(network, cur);
    auto page = range({.key = start, .range_end = end, .limit = limit, .keys_only = true});
    if (!page) return fail(page.error());
    std::vector<net::IpAddr> leased;
    for (const auto& kv : page->kvs) {
      auto a = etcd_layout::parse_addr_key(kv.key);
      if (!a || a->family() != from.family()) {
        return fail(cni::make_error(
            cni::Code::kStore, "store: corrupt lease key " + cni::quoted(kv.key) + " in etcd"));
      }
      learn(kv, false);
      leased.push_back(*a);
    }
    // The page speaks for [cur, covered]: up to its last key when cut short, else up to `to`.
    const net::IpAddr covered = page->more && !leased.empty() ? leased.back() : to;
    size_t i = 0;
    for (;;) {
      bool taken = i < leased.size() && leased[i] == cur;
      if (taken) ++i;
      const std::string key = keys_.lease(network, cur);
      if (auto w = writes_.find(key); w != writes_.end()) taken = w->second.has_value();
      if (!taken) {
        // Known absent at the snapshot: a claim of it needs no read of its own.
        if (!seen_.contains(key)) seen_[key] = Seen{};
        return std::optional(cur);
      }
      if (cur == covered) break;
      cur = cur.next();
    }
    if (cur == to) return std::nullopt;
    cur = cur.next();
    limit = std::min(limit * 4, kMaxPage);
  }
}

Expected<std::vector<Lease>> EtcdTxn::leases_of(std::string_view network,
                                                std::string_view container_id,
                                                std::string_view ifname) {
  // Guarded: a release of these leases must not delete what another transaction released and
  // someone claimed again meanwhile.
  auto kvs = scan(keys_.attachments(network, container_id, ifname), true);
  if (!kvs) return fail(kvs.error());
  std::vector<Lease> out;
  for (const auto& [key, value] : *kvs) {
    auto l = etcd_layout::decode_lease(key, value);
    if (!l) return fail(l.error());
    out.push_back(std::move(*l));
  }
  return out;  // in key order: by address
}

Expected<void> EtcdTxn::del_lease(const Lease& l) {
  (void)del(keys_.attachment(l.network, l.container_id, l.ifname, l.address));
  return del(keys_.lease(l.network, l.address));
}

Expected<int> EtcdTxn::release(std::string_view network, std::string_view container_id,
                               std::string_view ifname) {
  if (auto ok = writable("release"); !ok) return fail(ok.error());
  auto leases = leases_of(network, container_id, ifname);
  if (!leases) return fail(leases.error());
  for (const auto& l : *leases) (void)del_lease(l);
  return static_cast<int>(leases->size());
}

Expected<bool> EtcdTxn::release_address(std::string_view network, const net::IpAddr& address) {
  if (auto ok = writable("release"); !ok) return fail(ok.error());
  auto lease = get_lease(network, address);
  if (!lease) return fail(lease.error());
  if (!*lease) return false;
  (void)del_lease(**lease);
  return true;
}

Expected<std::vector<Lease>> EtcdTxn::list_leases(std::string_view network) {
  auto kvs = scan(keys_.leases(network));
  if (!kvs) return fail(kvs.error());
  std::vector<Lease> out;
  for (const auto& [key, value] : *kvs) {
    auto l = etcd_layout::decode_lease(key, value);
    if (!l) return fail(l.error());
    out.push_back(std::move(*l));
  }
  // By network and address, as the SQLite backend (encoded names may sort otherwise).
  std::ranges::sort(out, [](const Lease& a, const Lease& b) {
    return std::tie(a.network, a.address) < std::tie(b.network, b.address);
  });
  return out;
}

Expected<uint64_t> EtcdTxn::count_leases(std::string_view network, const net::IpAddr& from,
                                         const net::IpAddr& to) {
  if (auto ok = same_family(from, to); !ok) return fail(ok.error());
  if (to < from) return uint64_t{0};
  const std::string start = keys_.lease(network, from);
  const std::string end = inclusive_end(keys_.lease(network, to));
  auto r = range({.key = start, .range_end = end, .count_only = true});
  if (!r) return fail(r.error());
  int64_t count = r->count;
  for (auto w = writes_.lower_bound(start); w != writes_.end() && w->first < end; ++w) {
    auto was = existed(w->first);
    if (!was) return fail(was.error());
    count += (w->second.has_value() ? 1 : 0) - (*was ? 1 : 0);
  }
  return static_cast<uint64_t>(std::max<int64_t>(count, 0));
}

// Cursors.

// The cursor is where round-robin allocation resumes, a hint (claim guards every address): not
// guarded, so hosts allocating from one network at once do not conflict on it; each resumes
// from the cursor it last wrote or read.
Expected<std::optional<net::IpAddr>> EtcdTxn::get_cursor(std::string_view network, int range_set) {
  const std::string key = keys_.cursor(network, range_set);
  auto v = peek(key);
  if (!v) return fail(v.error());
  if (!*v) return std::nullopt;
  auto a = net::IpAddr::parse(**v);
  if (!a) {
    return fail(cni::make_error(cni::Code::kStore, "store: corrupt cursor " + cni::quoted(**v) +
                                                       " at etcd key " + cni::quoted(key)));
  }
  return std::optional(*a);
}

Expected<void> EtcdTxn::set_cursor(std::string_view network, int range_set,
                                   const net::IpAddr& address) {
  if (auto ok = writable("set cursor"); !ok) return ok;
  return put(keys_.cursor(network, range_set), address.str());
}

// Endpoints: <p>/endpoints/<network>/<container>/<ifname>, and a copy under each of its names
// and aliases (case folded) for endpoints_named.

Expected<void> EtcdTxn::drop_names(const Endpoint& e) {
  for (const auto* list : {&e.names, &e.aliases}) {
    for (const auto& name : *list) (void)del(keys_.name(e.network, name, e.container_id, e.ifname));
  }
  return {};
}

Expected<void> EtcdTxn::put_endpoint(const Endpoint& endpoint) {
  if (auto ok = writable("put endpoint"); !ok) return ok;
  // Replacing an endpoint replaces its names: drop the old ones first.
  auto old = get_endpoint(endpoint.network, endpoint.container_id, endpoint.ifname);
  if (!old) return fail(old.error());
  if (*old) (void)drop_names(**old);
  Endpoint e = endpoint;
  if (e.host.empty()) e.host = options_.host;
  const std::string value = etcd_layout::encode(e);
  for (const auto* list : {&e.names, &e.aliases}) {
    for (const auto& name : *list)
      (void)put(keys_.name(e.network, name, e.container_id, e.ifname), value);
  }
  return put(keys_.endpoint(e.network, e.container_id, e.ifname), value);
}

Expected<std::optional<Endpoint>> EtcdTxn::get_endpoint(std::string_view network,
                                                        std::string_view container_id,
                                                        std::string_view ifname) {
  const std::string key = keys_.endpoint(network, container_id, ifname);
  auto v = get(key);
  if (!v) return fail(v.error());
  if (!*v) return std::nullopt;
  auto e = etcd_layout::decode_endpoint(key, **v);
  if (!e) return fail(e.error());
  return std::optional(std::move(*e));
}

Expected<void> EtcdTxn::del_endpoint(std::string_view network, std::string_view container_id,
                                     std::string_view ifname) {
  if (auto ok = writable("delete endpoint"); !ok) return ok;
  auto old = get_endpoint(network, container_id, ifname);
  if (!old) return fail(old.error());
  if (!*old) return {};
  (void)drop_names(**old);
  return del(keys_.endpoint(network, container_id, ifname));
}

namespace {

Expected<std::vector<Endpoint>> decode_endpoints(
    const std::vector<std::pair<std::string, std::string>>& kvs) {
  std::vector<Endpoint> out;
  for (const auto& [key, value] : kvs) {
    auto e = etcd_layout::decode_endpoint(key, value);
    if (!e) return fail(e.error());
    out.push_back(std::move(*e));
  }
  // As the SQLite backend orders them (encoded keys may sort otherwise).
  std::ranges::sort(out, [](const Endpoint& a, const Endpoint& b) {
    return std::tie(a.network, a.container_id, a.ifname) <
           std::tie(b.network, b.container_id, b.ifname);
  });
  return out;
}

}  // namespace

Expected<std::vector<Endpoint>> EtcdTxn::list_endpoints(std::string_view network) {
  auto kvs = scan(keys_.endpoints(network));
  if (!kvs) return fail(kvs.error());
  return decode_endpoints(*kvs);
}

Expected<bool> EtcdTxn::has_endpoints(std::string_view network) {
  const std::string prefix = keys_.endpoints(network);
  const std::string end = etcd::prefix_end(prefix);
  int64_t deleted = 0;
  for (auto w = writes_.lower_bound(prefix); w != writes_.end() && w->first < end; ++w) {
    if (w->second) return true;
    ++deleted;
  }
  // One more key than this transaction deleted: if there is one, one of them is not deleted.
  auto r = range({.key = prefix, .range_end = end, .limit = deleted + 1, .keys_only = true});
  if (!r) return fail(r.error());
  return std::ranges::any_of(r->kvs,
                             [&](const etcd::KeyValue& kv) { return !writes_.contains(kv.key); });
}

Expected<std::vector<Endpoint>> EtcdTxn::endpoints_named(std::string_view network,
                                                         std::string_view name) {
  auto kvs = scan(keys_.names(network, name));
  if (!kvs) return fail(kvs.error());
  return decode_endpoints(*kvs);
}

// Meta: per host (<p>/meta/<host>/<key>).

Expected<std::optional<std::string>> EtcdTxn::get_meta(std::string_view key) {
  return get(keys_.meta(key));
}

Expected<void> EtcdTxn::put_meta(std::string_view key, std::string_view value) {
  if (auto ok = writable("put meta"); !ok) return ok;
  return put(keys_.meta(key), std::string(value));
}

// A short random pause before running a conflicting transaction again, growing with the
// attempts: writers that collided do not collide again in lockstep.
void back_off(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const int cap_ms = std::min(1 << std::min(attempt, 6), 50);
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % (cap_ms * 1000 + 1)));
}

}  // namespace

struct EtcdStore::Impl {
  Impl(etcd::Client c, EtcdOptions o)
      : client(std::move(c)), options(std::move(o)), keys(options.prefix, options.host) {}
  etcd::Client client;
  EtcdOptions options;
  Keys keys;
  std::recursive_mutex mu;  // one transaction (or host call) at a time on the one client
  Cache cache;              // of the write transactions (EtcdTxn::remember)
  int64_t host_lease = 0;
  std::string host_details;
};

EtcdStore::EtcdStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EtcdStore::~EtcdStore() = default;

Expected<std::unique_ptr<EtcdStore>> EtcdStore::open(const etcd::Config& config,
                                                     EtcdOptions options) {
  if (options.host.empty()) return fail(cni::invalid_config("etcd store: the host name is empty"));
  if (options.prefix.ends_with('/')) {
    return fail(cni::invalid_config("etcd store: the prefix " + cni::quoted(options.prefix) +
                                    " ends with '/'"));
  }
  if (options.max_attempts < 1 || options.max_txn_ops < 1) {
    return fail(cni::invalid_config("etcd store: max_attempts and max_txn_ops must be positive"));
  }
  auto client = etcd::Client::make(config);
  if (!client) return fail(client.error());
  auto impl = std::make_unique<Impl>(std::move(*client), std::move(options));
  const std::string key = impl->keys.version();
  // Written once, by whoever comes first: a create_revision == 0 txn.
  for (int i = 0; i < 3; ++i) {
    auto r = impl->client.range({.key = key});
    if (!r) return fail(r.error());
    if (!r->kvs.empty()) {
      if (r->kvs.front().value == kLayoutVersion) {
        return std::unique_ptr<EtcdStore>(new EtcdStore(std::move(impl)));
      }
      return fail(cni::make_error(
          cni::Code::kStore, "etcd store: " + cni::quoted(key) + " is " +
                                 cni::quoted(r->kvs.front().value) +
                                 ", a layout this weir does not know (it knows " +
                                 std::string(kLayoutVersion) + "): run the weir that made it"));
    }
    auto t = impl->client.txn({{.key = key, .target = etcd::Compare::Target::kCreate, .number = 0}},
                              {etcd::Op::put(key, std::string(kLayoutVersion))});
    if (!t) return fail(t.error());
  }
  return fail(cni::try_again_later("etcd store: " + cni::quoted(key) + " keeps changing"));
}

Expected<void> EtcdStore::transact(const TxnFn& fn) {
  std::lock_guard lock(impl_->mu);
  const int attempts = impl_->options.max_attempts;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    EtcdTxn txn(impl_->client, impl_->keys, impl_->options, &impl_->cache);
    if (auto ok = fn(txn); !ok) {
      // Nothing was sent. Its snapshot is gone, or a record it read came from the cache and may
      // be stale: run it again on fresh reads, which then stand.
      if (txn.used_cache() && !txn.request_failed()) {
        impl_->cache.clear();
        continue;
      }
      if (!txn.compacted()) return ok;
      continue;
    }
    auto committed = txn.commit();
    if (!committed) return fail(committed.error());
    if (*committed) return {};
    if (attempt < attempts) back_off(attempt);
  }
  return fail(cni::try_again_later("etcd: transaction kept conflicting with other writers (" +
                                   std::to_string(attempts) + " attempts); try again"));
}

Expected<void> EtcdStore::view(const TxnFn& fn) {
  std::lock_guard lock(impl_->mu);
  EtcdTxn txn(impl_->client, impl_->keys, impl_->options, nullptr);
  return fn(txn);
}

std::string_view EtcdStore::host() const {
  return impl_->options.host;
}

Expected<int64_t> EtcdStore::register_host(int64_t ttl_seconds, const std::string& details_json) {
  std::lock_guard lock(impl_->mu);
  auto& c = impl_->client;
  const std::string key = impl_->keys.host(impl_->options.host);
  if (impl_->host_lease != 0) {
    auto left = c.lease_keepalive(impl_->host_lease);
    if (!left) return fail(left.error());
    if (*left > 0) {
      if (details_json != impl_->host_details) {
        if (auto p = c.put(key, details_json, impl_->host_lease); !p) return fail(p.error());
        impl_->host_details = details_json;
      }
      return *left;
    }
    impl_->host_lease = 0;  // expired or revoked (a partition longer than the TTL): a new one
  }
  auto lease = c.lease_grant(ttl_seconds);
  if (!lease) return fail(lease.error());
  if (auto p = c.put(key, details_json, *lease); !p) {
    (void)c.lease_revoke(*lease);
    return fail(p.error());
  }
  impl_->host_lease = *lease;
  impl_->host_details = details_json;
  return ttl_seconds;
}

Expected<std::vector<std::pair<std::string, std::string>>> EtcdStore::hosts() {
  std::lock_guard lock(impl_->mu);
  const std::string prefix = impl_->keys.hosts();
  auto r = impl_->client.range({.key = prefix, .range_end = etcd::prefix_end(prefix)});
  if (!r) return fail(r.error());
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& kv : r->kvs) {
    out.emplace_back(etcd_layout::decode_part(std::string_view(kv.key).substr(prefix.size())),
                     std::move(kv.value));
  }
  std::ranges::sort(out);
  return out;
}

const EtcdOptions& EtcdStore::options() const {
  return impl_->options;
}
etcd::Client& EtcdStore::client() {
  return impl_->client;
}

}  // namespace weir::store
