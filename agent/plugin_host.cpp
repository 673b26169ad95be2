#include "agent/plugin_host.hpp"

#include "agent/log.hpp"

namespace weir::agent {

PluginHost::PluginHost(std::string data_dir, std::string database,
                       std::function<Expected<void>()> sync_dns)
    : data_dir_(std::move(data_dir)),
      database_(std::move(database)),
      reaper_(data_dir_),
      bridge_{.data_dir = data_dir_,
              .store = nullptr,  // set per call, see run()
              .sync_dns = std::move(sync_dns),
              .delete_link_later = [this](int ifindex) { return reaper_.delete_later(ifindex); },
              .ipam_seams = &ipam_seams_} {}

std::optional<PluginReply> PluginHost::run(const proto::Plugin& plugin, const PluginCall& call) {
  drop_store_if_replaced();
  if (!store_) {
    auto st = store::SqliteStore::open(database_, {.create = false, .defer_checkpoint = true});
    if (!st) return std::nullopt;
    store_ = std::make_unique<store::SqliteStore>(std::move(*st));
  }
  last_call_ = Clock::now();
  log_once("serving " + std::string(plugin.name) + " calls");
  cni::MapEnv env(call.env, call.stdin_bytes);
  int code = 0;
  if (&plugin == &proto::kBridge) {
    serve_bridge();
    bridge_.store = store_.get();
    code = cni::plugin_main(env, plugins::bridge::verbs(&bridge_), proto::kBridge.name);
  } else {
    const ipam::OpenStore open{.data_dir = data_dir_, .store = store_.get()};
    code = cni::plugin_main(env, ipam::verbs(open, ipam_seams_), ipam::kPluginName);
  }
  return PluginReply{.exit_code = code, .out = env.out_str(), .err = env.err_str()};
}

void PluginHost::stop_calls() {
  last_ipam_.reset();
  serves_bridge_ = false;
  store_.reset();
}

bool PluginHost::ipam_recent() const {
  return last_ipam_ && Clock::now() - *last_ipam_ < std::chrono::milliseconds(kIdleGraceMs);
}

int PluginHost::poll_timeout_ms() {
  if (reaper_.busy()) return 20;
  if (!ipam_recent()) return kIdleGraceMs;
  const auto end = *last_ipam_ + std::chrono::milliseconds(kIdleGraceMs);
  return std::max(remaining_ms(end), 1);
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
