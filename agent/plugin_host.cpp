#include "agent/plugin_host.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "agent/log.hpp"
#include "lib/store/backend.hpp"
#include "plugins/bridge/bridge.hpp"
#include "plugins/common/store_open.hpp"

namespace weir::agent {

// What a call for our data dir gets from us: the store we keep open (SQLite, or the network's
// etcd store), our DNS synced in-process (a sync over our socket would wait for us, busy with
// this very call), our reaper thread, the boot id read once. For the call's spelling of the
// data dir, which the in-process IPAM compares with its own.
class PluginHost::Lent final : public plugins::Services {
 public:
  Lent(PluginHost& host, const std::string& data_dir, const store::Backend& backend)
      : Services(data_dir, backend), host_(host) {}

  Expected<store::Store*> store() override {
    if (backend().etcd_backed()) return host_.etcd_store(backend());
    if (host_.store_) return host_.store_.get();
    if (!opened_) {  // not opened by run(): as a plugin process would
      auto st = plugins::open_store(store::Backend{}, data_dir());
      if (!st) return fail(st.error());
      opened_ = std::move(*st);
    }
    return opened_.get();
  }
  Expected<void> sync_dns(bool /*start*/) override {
    auto ok = host_.sync_dns_();  // we serve it, so we run: nothing to start
    if (!ok) return fail(std::move(ok.error()).context("embedded DNS"));
    return {};
  }
  Expected<void> delete_link_later(int ifindex) override {
    return host_.reaper_.delete_later(ifindex);
  }

 protected:
  const ipam::Seams* ipam_seams() const override { return &host_.ipam_seams_; }

 private:
  PluginHost& host_;
  std::unique_ptr<store::Store> opened_;
};

namespace {

// How long this host's presence lasts in an etcd store without a renewal, and how often we
// renew it: a host whose agent died (or was cut off) is gone from the list after the TTL.
constexpr int64_t kPresenceTtlS = 30;
constexpr auto kRenewEvery = std::chrono::seconds(kPresenceTtlS / 3);

// What the presence record says of us (weirctl store status shows it).
std::string presence_details() {
  return nlohmann::json{{"agent", "weir-agent"},
                        {"pid", ::getpid()},
                        {"boot_id", ipam::read_boot_id()},
                        {"since", ipam::unix_now()}}
      .dump();
}

// The backend of a call's network: SQLite for a config that does not parse (the plugin reports
// it, as the process would); nullopt for a "store" object we cannot read (the call runs in its
// plugin's process, which reports it).
std::optional<store::Backend> backend_of(std::string_view config) {
  const auto conf = nlohmann::json::parse(config, nullptr, false);
  if (conf.is_discarded()) return store::Backend{};
  auto backend = store::backend_for(conf);
  if (!backend) return std::nullopt;
  return std::move(*backend);
}

}  // namespace

PluginHost::PluginHost(std::string data_dir, std::string database,
                       std::function<Expected<void>()> sync_dns)
    : data_dir_(std::move(data_dir)),
      database_(std::move(database)),
      reaper_(data_dir_),
      sync_dns_(std::move(sync_dns)) {}

// By the folder itself, not its spelling ("/var/lib//weir", a symlink): taken for another
// folder, ours would be asked for a DNS sync over our socket by ourselves, busy with this call.
std::unique_ptr<plugins::Services> PluginHost::services_for(const std::string& data_dir,
                                                            const store::Backend& backend) {
  if (!plugins::same_folder(data_dir_, data_dir)) {
    return plugins::process_services(data_dir, backend);
  }
  return std::make_unique<Lent>(*this, data_dir, backend);
}

std::optional<PluginReply> PluginHost::run(const proto::Plugin& plugin, const PluginCall& call) {
  const auto backend = backend_of(call.stdin_bytes);
  if (!backend) return std::nullopt;
  if (backend->etcd_backed()) return run_on_etcd(plugin, call, *backend);
  drop_store_if_replaced();
  if (!store_) {
    auto st = store::SqliteStore::open(database_, {.create = false, .defer_checkpoint = true});
    if (!st) return std::nullopt;
    store_ = std::make_unique<store::SqliteStore>(std::move(*st));
  }
  last_call_ = Clock::now();
  if (&plugin == &proto::kBridge) serve_bridge();
  return run_verbs(plugin, call, {.data_dir = data_dir_, .store = store_.get()});
}

std::optional<PluginReply> PluginHost::run_on_etcd(const proto::Plugin& plugin,
                                                   const PluginCall& call,
                                                   const store::Backend& backend) {
  if (!store::etcd_linked()) return std::nullopt;  // weir-cluster runs it, in the plugin's stead
  keep_for_grace();
  auto st = etcd_store(backend);
  if (!st) {
    // Reported as the plugin would (its config checked first), without a second wait for an
    // etcd that did not answer.
    cni::MapEnv env(call.env, call.stdin_bytes);
    cni::Verbs verbs = &plugin == &proto::kBridge ? plugins::bridge::verbs() : ipam::verbs();
    verbs.before = [&](const cni::Call&) -> Expected<void> { return fail(st.error()); };
    const int code = cni::plugin_main(env, verbs, plugin.name);
    return PluginReply{.exit_code = code, .out = env.out_str(), .err = env.err_str()};
  }
  return run_verbs(plugin, call, {.data_dir = data_dir_, .store = *st, .backend = &backend});
}

PluginReply PluginHost::run_verbs(const proto::Plugin& plugin, const PluginCall& call,
                                  const ipam::OpenStore& open) {
  log_once("serving " + std::string(plugin.name) + " calls");
  cni::MapEnv env(call.env, call.stdin_bytes);
  int code = 0;
  if (&plugin == &proto::kBridge) {
    const auto services_for = [this](const std::string& dir, const store::Backend& backend) {
      return this->services_for(dir, backend);
    };
    code = cni::plugin_main(env, plugins::bridge::verbs(services_for), proto::kBridge.name);
  } else {
    ipam::OpenStore with_seams = open;
    with_seams.seams = &ipam_seams_;
    code = cni::plugin_main(env, ipam::verbs(with_seams, ipam_seams_), ipam::kPluginName);
  }
  return PluginReply{.exit_code = code, .out = env.out_str(), .err = env.err_str()};
}

Expected<store::Store*> PluginHost::etcd_store(const store::Backend& backend) {
  for (auto& kept : etcd_) {
    if (store::same_etcd_store(kept.backend, backend)) return kept.store.get();
  }
  auto st = store::open_backend(backend, data_dir_);
  if (!st) return fail(st.error());
  KeptEtcd kept{.backend = backend, .store = std::move(*st), .details = presence_details()};
  // Present from the first call on; a failure here is the next renewal's to retry.
  if (auto p = kept.store->keep_presence(kPresenceTtlS, kept.details); !p) {
    log("presence in etcd (" + backend.origin + "): " + p.error().msg);
  }
  log("keeping the etcd store of " + backend.origin + " open (" + std::string(kept.store->host()) +
      " under " + backend.prefix + ")");
  kept.renew = Clock::now() + kRenewEvery;
  etcd_.push_back(std::move(kept));
  return etcd_.back().store.get();
}

void PluginHost::keep_store(const store::Backend& backend) {
  wanted_ = backend;
  next_try_ = Clock::now();
}

void PluginHost::keep_presence() {
  const auto now = Clock::now();
  // The host-wide store we are to be present in: opened now, or tried again at the next
  // renewal (etcd not up yet when we started).
  if (wanted_ && now >= next_try_) {
    if (auto st = etcd_store(*wanted_); !st) {
      log("the host-wide etcd store (" + wanted_->origin + "): " + st.error().msg);
      next_try_ = now + kRenewEvery;
    } else {
      wanted_.reset();
    }
  }
  for (auto& kept : etcd_) {
    if (now < kept.renew) continue;
    auto left = kept.store->keep_presence(kPresenceTtlS, kept.details);
    if (!left) log("presence in etcd (" + kept.backend.origin + "): " + left.error().msg);
    kept.renew = now + kRenewEvery;
  }
}

void PluginHost::stop_calls() {
  last_ipam_.reset();
  serves_bridge_ = false;
  store_.reset();
  // The etcd stores stay: we are still present in them (renewed) while we run.
}

bool PluginHost::ipam_recent() const {
  return last_ipam_ && Clock::now() - *last_ipam_ < std::chrono::milliseconds(kIdleGraceMs);
}

int PluginHost::poll_timeout_ms() {
  if (reaper_.busy()) return 20;
  auto next = Clock::now() + std::chrono::milliseconds(kIdleGraceMs);
  if (ipam_recent()) next = std::min(next, *last_ipam_ + std::chrono::milliseconds(kIdleGraceMs));
  for (const auto& kept : etcd_) next = std::min(next, kept.renew);
  if (wanted_) next = std::min(next, next_try_);
  return std::max(remaining_ms(next), 1);
}

bool PluginHost::idle() {
  // Not with deletes queued: the thread would finish them while we hold the agent lock, and
  // a new agent waits for that lock only so long.
  if (ipam_recent() || reaper_.busy()) return false;
  if (!serves_bridge_) return true;
  bool any = false;
  auto read = view_store([&](store::Txn& t) -> Expected<void> {
    auto has = t.has_endpoints("");
    if (!has) return fail(has.error());
    any = *has;
    return {};
  });
  return !read || !any;  // a store we cannot read (removed) has no endpoint to serve either
}

void PluginHost::checkpoint_if_due() {
  if (store_) store_->checkpoint_if_due();
}

bool PluginHost::forget_store_if_quiet() {
  if (!store_ ||
      (last_call_ && Clock::now() - *last_call_ < std::chrono::milliseconds(kIdleGraceMs))) {
    return false;
  }
  store_.reset();
  return true;
}

// The file was truncated or replaced (weirctl store rebuild) under the open store: open it
// again, which refuses what is not a weir store (the caller then runs the call and reports it),
// and takes a rebuilt one.
void PluginHost::drop_store_if_replaced() {
  if (!store_) return;
  if (auto same = store_->same_file(); !same) {
    log(same.error().msg);
    store_.reset();
  }
}

// Between syncs the agent keeps no SQLite connection of its own, whose page cache alone grows
// to 2 MiB over 10,000 endpoints. Not created when missing: the data dir may have been removed
// under a running agent (which then exits, see run_agent).
Expected<void> PluginHost::view_store(const store::TxnFn& fn) {
  drop_store_if_replaced();
  if (store_) return store_->view(fn);
  auto st = store::SqliteStore::open(database_, {.create = false});
  if (!st) return fail(st.error());
  return st->view(fn);
}

Expected<std::vector<store::Endpoint>> PluginHost::read_endpoints() {
  std::vector<store::Endpoint> endpoints;
  // No SQLite store (an agent of etcd networks only): no endpoint of ours to serve.
  if (!store_ && ::access(database_.c_str(), F_OK) != 0 && errno == ENOENT) return endpoints;
  auto read = view_store([&](store::Txn& t) -> Expected<void> {
    auto eps = t.list_endpoints("");
    if (!eps) return fail(eps.error());
    endpoints = std::move(*eps);
    return {};
  });
  if (!read) return fail(read.error());
  return endpoints;
}

}  // namespace weir::agent
