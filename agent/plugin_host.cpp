#include "agent/plugin_host.hpp"

#include "agent/log.hpp"
#include "lib/store/backend.hpp"
#include "plugins/bridge/bridge.hpp"
#include "plugins/common/store_open.hpp"

namespace weir::agent {

// What a call for our data dir gets from us: the store we keep open, our DNS synced
// in-process (a sync over our socket would wait for us, busy with this very call), our reaper
// thread, the boot id read once. For the call's spelling of the data dir, which the in-process
// IPAM compares with its own.
class PluginHost::Lent final : public plugins::Services {
 public:
  Lent(PluginHost& host, const std::string& data_dir) : Services(data_dir), host_(host) {}

  Expected<store::Store*> store() override {
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

PluginHost::PluginHost(std::string data_dir, std::string database,
                       std::function<Expected<void>()> sync_dns)
    : data_dir_(std::move(data_dir)),
      database_(std::move(database)),
      reaper_(data_dir_),
      sync_dns_(std::move(sync_dns)) {}

// By the folder itself, not its spelling ("/var/lib//weir", a symlink): taken for another
// folder, ours would be asked for a DNS sync over our socket by ourselves, busy with this call.
// Ours serve only our SQLite store (run() passes on the calls of etcd networks).
std::unique_ptr<plugins::Services> PluginHost::services_for(const std::string& data_dir,
                                                            const store::Backend& backend) {
  if (backend.etcd_backed() || !plugins::same_folder(data_dir_, data_dir)) {
    return plugins::process_services(data_dir, backend);
  }
  return std::make_unique<Lent>(*this, data_dir);
}

namespace {

// Whether a call's network keeps its records in the SQLite store we hold open: a call on an
// etcd network (or with a "store" object we cannot read) runs in its plugin's process, which
// hands it to weir-cluster (agent/client/handoff.hpp) or reports the config error.
bool on_our_store(std::string_view config) {
  const auto conf = nlohmann::json::parse(config, nullptr, false);
  if (conf.is_discarded()) return true;  // the plugin reports it, as the process would
  const auto backend = store::backend_for(conf);
  return backend && !backend->etcd_backed();
}

}  // namespace

std::optional<PluginReply> PluginHost::run(const proto::Plugin& plugin, const PluginCall& call) {
  if (!on_our_store(call.stdin_bytes)) return std::nullopt;
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
    const auto services_for = [this](const std::string& dir, const store::Backend& backend) {
      return this->services_for(dir, backend);
    };
    code = cni::plugin_main(env, plugins::bridge::verbs(services_for), proto::kBridge.name);
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
