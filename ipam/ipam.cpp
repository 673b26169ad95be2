// The CNI verbs of weir-ipam over the allocator and the store.
#include "ipam/ipam.hpp"

#include <algorithm>
#include <memory>
#include <set>

#include "lib/store/backend.hpp"

namespace weir::ipam {

namespace {

cni::Result make_result(const IpamConfig& c, const std::vector<Assigned>& got) {
  cni::Result r;
  for (const auto& a : got) {
    r.ips.push_back(
        {.address = net::Cidr(a.address, a.range.subnet.prefix_len()), .gateway = a.range.gateway});
  }
  r.routes = c.routes;
  r.dns = c.dns;
  return r;
}

// DEL and GC never create a store: without a database nothing was ever leased.
bool store_missing(const std::string& data_dir) {
  return !path_exists(store::database_path(data_dir));
}

// DEL's and GC's data dir (data_dir_of: lenient about the rest of the section), refused (7) when
// relative, as ADD refuses it: it would be the runtime's working directory.
Expected<std::string> lenient_data_dir(const cni::NetConf& conf) {
  std::string dir = data_dir_of(conf);
  if (!dir.empty() && dir[0] == '/') return dir;
  const bool own = conf.ipam.is_object() && conf.ipam.contains("dataDir") &&
                   conf.ipam["dataDir"].is_string();
  return fail(cni::invalid_config(cni::quoted(own ? "ipam.dataDir" : "dataDir") +
                                  " must be an absolute path, not " + cni::quoted(dir)));
}

// Whether the caller's open store (see OpenStore) is the network's: data_dir's SQLite file, or
// the same etcd cluster, prefix and host (the same records, written under the same name).
bool is_open(const OpenStore& open, const store::Backend& backend, const std::string& data_dir) {
  if (open.store == nullptr) return false;
  const bool open_etcd = open.backend != nullptr && open.backend->etcd_backed();
  if (!backend.etcd_backed()) {
    return !open_etcd && store::database_path(open.data_dir) == store::database_path(data_dir);
  }
  return open_etcd && store::same_etcd_store(*open.backend, backend);
}

// The store a verb works on: the network's (lib/store/backend.hpp), the caller's when it is
// that one (is_open), else its own. The verbs that write sweep after a reboot inside their own
// transaction; those that read call sweep() first.
class UsedStore {
 public:
  // With `existing`, a SQLite store that was never made is none (missing()): DEL and GC never
  // create one, as without a database nothing was ever leased.
  static Expected<UsedStore> get(const cni::NetConf& conf, const std::string& data_dir,
                                 const OpenStore& open, bool existing = false) {
    auto backend = store::backend_for(conf.raw);
    if (!backend) return fail(backend.error());
    if (is_open(open, *backend, data_dir)) return UsedStore(open.store, nullptr);
    if (existing && !backend->etcd_backed() && store_missing(data_dir))
      return UsedStore(nullptr, nullptr);
    auto owned = store::open_backend(*backend, data_dir);
    if (!owned) return fail(owned.error());
    store::Store* s = owned->get();
    return UsedStore(s, std::move(*owned));
  }
  bool missing() const { return store_ == nullptr; }
  store::Store* operator->() const { return store_; }
  Expected<void> sweep(const Seams& seams) const { return sweep_after_reboot(*store_, seams); }

  // A write transaction that first releases what a reboot left behind. On a shared store that
  // sweep goes a batch per transaction, and a call that fails takes its batch with it: then the
  // sweep is finished in transactions of its own and the call runs once more.
  Expected<void> transact(const Seams& seams, const store::TxnFn& fn) const {
    bool swept = true;
    const auto call = [&](store::Txn& txn) -> Expected<void> {
      auto done = sweep_after_reboot(txn, seams);
      if (!done) return fail(done.error());
      swept = *done;
      return fn(txn);
    };
    auto ok = store_->transact(call);
    if (ok || swept) return ok;
    if (auto s = sweep_after_reboot(*store_, seams); !s) return s;
    return store_->transact(call);
  }

 private:
  UsedStore(store::Store* s, std::unique_ptr<store::Store> owned)
      : store_(s), owned_(std::move(owned)) {}
  store::Store* store_;
  std::unique_ptr<store::Store> owned_;
};

// The call's ipam config; CNI_ARGS must be K=V pairs (the IP= argument is read from them).
Expected<IpamConfig> parse_call(const cni::Call& call) {
  if (auto ok = cni::require_args(call.env); !ok) return fail(ok.error());
  return parse_config(call.conf, call.env.args);
}

Expected<void> check_leases(store::Txn& txn, const cni::Call& call,
                            const std::vector<RangeSet>& sets) {
  const auto& env = call.env;
  const std::string who = "container \"" + env.container_id + "\" (" + env.ifname + ")";
  auto held = txn.leases_of(call.conf.name, env.container_id, env.ifname);
  if (!held) return fail(held.error());
  auto holds = [&](const net::IpAddr& a) {
    return std::any_of(held->begin(), held->end(),
                       [&](const store::Lease& l) { return l.address == a; });
  };
  for (size_t i = 0; i < sets.size(); ++i) {
    bool found = std::any_of(held->begin(), held->end(), [&](const store::Lease& l) {
      return find_range(sets[i], l.address) != nullptr;
    });
    if (!found) {
      return fail(cni::check_failed(who + " holds no address in range set " + std::to_string(i) +
                                    " (" + describe(sets[i]) + ")"));
    }
  }
  if (!call.conf.prev_result) return {};
  for (const auto& ip : call.conf.prev_result->ips) {
    const net::IpAddr& a = ip.address.addr();
    bool ours = std::any_of(sets.begin(), sets.end(),
                            [&](const RangeSet& s) { return find_range(s, a) != nullptr; });
    if (ours && !holds(a)) {
      return fail(cni::check_failed("prevResult address " + a.str() + " is not leased to " + who));
    }
  }
  return {};
}

}  // namespace

Expected<cni::Result> add(const cni::Call& call, const Seams& seams, const OpenStore& open) {
  auto config = parse_call(call);
  if (!config) return fail(config.error());
  auto db = UsedStore::get(call.conf, config->data_dir, open);
  if (!db) return fail(db.error());
  std::vector<Assigned> got;
  auto ok = db->transact(seams, [&](store::Txn& txn) -> Expected<void> {
    auto sets = network_sets(txn, *config, seams, PoolMode::kChoose);
    if (!sets) return fail(sets.error());
    auto a = allocate(txn, {.network = config->network,
                            .sets = &*sets,
                            .order = config->order,
                            .requested = config->requested,
                            .container_id = call.env.container_id,
                            .ifname = call.env.ifname,
                            .netns = call.env.netns,
                            .now = seams.now()});
    if (!a) return fail(a.error());
    got = std::move(*a);
    return {};
  });
  if (!ok) return fail(ok.error());
  return make_result(*config, got);
}

Expected<void> del(const cni::Call& call, const Seams& seams, const OpenStore& open) {
  auto data_dir = lenient_data_dir(call.conf);
  if (!data_dir) return fail(data_dir.error());
  const std::string& dir = *data_dir;
  auto db = UsedStore::get(call.conf, dir, open, true);
  if (!db) return fail(db.error());
  if (db->missing()) return {};
  return db->transact(seams, [&](store::Txn& txn) -> Expected<void> {
    auto n = txn.release(call.conf.name, call.env.container_id, call.env.ifname);
    if (!n) return fail(n.error());
    return {};
  });
}

Expected<void> check(const cni::Call& call, const Seams& seams, const OpenStore& open) {
  auto config = parse_call(call);
  if (!config) return fail(config.error());
  auto db = UsedStore::get(call.conf, config->data_dir, open);
  if (!db) return fail(db.error());
  if (auto ok = db->sweep(seams); !ok) return ok;
  return (*db)->view([&](store::Txn& txn) -> Expected<void> {
    auto sets = network_sets(txn, *config, seams, PoolMode::kRecorded);
    if (!sets) return fail(sets.error());
    return check_leases(txn, call, *sets);
  });
}

Expected<void> status(const cni::Call& call, const Seams& seams, const OpenStore& open) {
  auto config = parse_call(call);
  if (!config) return fail(config.error());
  auto db = UsedStore::get(call.conf, config->data_dir, open);
  if (!db) return fail(db.error());
  if (auto ok = db->sweep(seams); !ok) return ok;
  return (*db)->view([&](store::Txn& txn) -> Expected<void> {
    auto sets = network_sets(txn, *config, seams, PoolMode::kPreview);
    if (!sets) return fail(sets.error());
    auto full = first_exhausted(txn, config->network, *sets);
    if (!full) return fail(full.error());
    if (!*full) return {};
    return fail(cni::not_available("range set " + std::to_string(**full) + " (" +
                                   describe((*sets)[**full]) + ") of network \"" + config->network +
                                   "\" is exhausted"));
  });
}

Expected<void> gc(const cni::Call& call, const std::vector<cni::Attachment>& valid,
                  const Seams& seams, const OpenStore& open) {
  auto data_dir = lenient_data_dir(call.conf);
  if (!data_dir) return fail(data_dir.error());
  const std::string& dir = *data_dir;
  auto db = UsedStore::get(call.conf, dir, open, true);
  if (!db) return fail(db.error());
  if (db->missing()) return {};
  const std::set<cni::Attachment> keep(valid.begin(), valid.end());
  return db->transact(seams, [&](store::Txn& txn) -> Expected<void> {
    auto leases = txn.list_leases(call.conf.name);
    if (!leases) return fail(leases.error());
    for (const auto& l : *leases) {
      // A runtime knows its own host's containers: another host's leases are not its to free.
      if (!txn.owns(l.host) || keep.contains({l.container_id, l.ifname})) continue;
      if (auto ok = txn.release_address(l.network, l.address); !ok) return fail(ok.error());
    }
    return {};
  });
}

cni::Verbs verbs(const OpenStore& open, const Seams& seams) {
  return {
      .add = [=](const cni::Call& c) { return add(c, seams, open); },
      .del = [=](const cni::Call& c) { return del(c, seams, open); },
      .check = [=](const cni::Call& c) { return check(c, seams, open); },
      .status = [=](const cni::Call& c) { return status(c, seams, open); },
      .gc = [=](const cni::Call& c, const std::vector<cni::Attachment>& v) {
        return gc(c, v, seams, open);
      },
  };
}

}  // namespace weir::ipam
