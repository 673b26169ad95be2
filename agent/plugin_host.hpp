// Runs weir-ipam's and weir-bridge's ADD and DEL as their plugin processes would, through the
// same cni::plugin_main, on a store kept open between calls: no WAL index to rebuild, no schema
// to parse, statements already prepared. For the data dir it serves the agent lends the bridge's
// verbs its own services (plugins/common/services.hpp): the open store, its DNS (a sync
// in-process), its background link deletes and its IPAM seams; for any other data dir a call
// gets a plugin process's.
//
// Calls of networks on etcd (lib/store/backend.hpp) run here only in a weir-agent linked with
// it (started as weir-cluster's, agent/client/control.cpp); a static one passes them on. Each
// etcd store is opened on its first call and kept: one connection, the records its
// transactions remember (lib/store/etcd_store.hpp), and this host's presence in it, renewed
// while we run (keep_presence). Such calls keep us for the grace period, as weir-ipam's do: a
// call that comes after we left runs in its plugin process, as it would without us.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/client/call.hpp"
#include "ipam/ipam.hpp"
#include "lib/store/sqlite.hpp"
#include "plugins/common/link_reaper.hpp"
#include "plugins/common/services.hpp"

namespace weir::agent {

// With no DNS network, wait this long for a plugin before exiting (a starter that died), and
// stay this long after the last weir-ipam call; close the store after this long without any.
inline constexpr int kIdleGraceMs = 30'000;

class PluginHost {
 public:
  // sync_dns makes the agent's DNS serve what the store holds now.
  PluginHost(std::string data_dir, std::string database, std::function<Expected<void>()> sync_dns);

  // Runs the call; nullopt when the store cannot be opened (its folder was removed): we do not
  // bring it back, the caller runs it.
  std::optional<PluginReply> run(const proto::Plugin& plugin, const PluginCall& call);

  // A weir-ipam call came (run here or not), or a call on etcd: stay for the grace, for the
  // ones that follow.
  void keep_for_grace() { last_ipam_ = Clock::now(); }
  // We run weir-bridge's calls: stay while the store has endpoints (see idle).
  void serve_bridge() { serves_bridge_ = true; }
  // Serves no more plugin calls (an upgrade replaced our binary).
  void stop_calls();

  // How long until the next look at whether we are idle, for poll: soon while veths are being
  // deleted (we exit once they are), else the end of the grace or the next renewal of our
  // presence on etcd, whichever comes first, or a whole grace.
  int poll_timeout_ms();
  // Renews this host's presence in the etcd stores we keep when it is due (a third of its TTL).
  void keep_presence();
  // The store a backend names is to be kept open with our presence in it from now on, before
  // any call (the host-wide etcd store): opened by the next keep_presence(), and tried again at
  // each renewal until it opens.
  void keep_store(const store::Backend& backend);
  // Nothing keeps us for the calls: none of weir-ipam within the grace, no delete queued, and
  // — once we run weir-bridge's calls — no endpoint left in the store (its DELs come to us).
  bool idle();

  // After the reply: the plugin does not wait for the checkpoint's fdatasyncs.
  void checkpoint_if_due();
  // No plugin call for a while: give the store's memory back. Returns whether it did.
  bool forget_store_if_quiet();

  // Every endpoint record, on the connection the plugin calls use while it is open (a
  // weir-bridge call's own sync, in particular), else on one opened for the read.
  Expected<std::vector<store::Endpoint>> read_endpoints();

 private:
  class Lent;  // the services we lend (plugin_host.cpp)
  // The services of a call for `data_dir`: ours when it is the folder we serve, else a plugin
  // process's (the one place that decides).
  std::unique_ptr<plugins::Services> services_for(const std::string& data_dir,
                                                  const store::Backend& backend);
  bool ipam_recent() const;
  // A call of a network on etcd, with its backend.
  std::optional<PluginReply> run_on_etcd(const proto::Plugin& plugin, const PluginCall& call,
                                         const store::Backend& backend);
  // The kept store of an etcd backend, opened (and our presence made) on first use.
  Expected<store::Store*> etcd_store(const store::Backend& backend);
  PluginReply run_verbs(const proto::Plugin& plugin, const PluginCall& call,
                        const ipam::OpenStore& open);
  void drop_store_if_replaced();
  Expected<void> view_store(const store::TxnFn& fn);

  std::string data_dir_;
  std::string database_;
  std::unique_ptr<store::SqliteStore> store_;  // for the plugin calls we run
  struct KeptEtcd {
    store::Backend backend;
    std::unique_ptr<store::Store> store;
    std::string details;      // what our presence record says (made at the open)
    Clock::time_point renew;  // when its presence is next renewed
  };
  std::vector<KeptEtcd> etcd_;
  std::optional<store::Backend> wanted_;  // keep_store's, until it opens
  Clock::time_point next_try_;
  std::optional<Clock::time_point> last_call_;
  std::optional<Clock::time_point> last_ipam_;
  bool serves_bridge_ = false;
  // The boot id cannot change while we run: read once, not on every call.
  const ipam::Seams ipam_seams_{.boot_id = [id = ipam::read_boot_id()] { return id; }};
  // Its thread is started by the first weir-bridge DEL, on our main thread and in our netns
  // (DEL never enters a container's), where the veths it deletes are.
  plugins::ReaperThread reaper_;
  // Makes our DNS serve what the store holds now (in-process: we run the call).
  std::function<Expected<void>()> sync_dns_;
};

}  // namespace weir::agent
