// Runs weir-ipam's and weir-bridge's ADD and DEL as their plugin processes would, through the
// same cni::plugin_main, on a store kept open between calls: no WAL index to rebuild, no schema
// to parse, statements already prepared. For the data dir it serves the agent lends the bridge's
// verbs its own services (plugins/common/services.hpp): the open store, its DNS (a sync
// in-process), its background link deletes and its IPAM seams; for any other data dir a call
// gets a plugin process's.
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

  // A weir-ipam call came (run here or not): stay for the grace, for the ones that follow.
  void keep_for_ipam() { last_ipam_ = Clock::now(); }
  // We run weir-bridge's calls: stay while the store has endpoints (see idle).
  void serve_bridge() { serves_bridge_ = true; }
  // Serves no more plugin calls (an upgrade replaced our binary).
  void stop_calls();

  // How long until the next look at whether we are idle, for poll: soon while veths are being
  // deleted (we exit once they are), else the end of the weir-ipam grace, or a whole grace.
  int poll_timeout_ms();
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
  void drop_store_if_replaced();
  Expected<void> view_store(const store::TxnFn& fn);

  std::string data_dir_;
  std::string database_;
  std::unique_ptr<store::SqliteStore> store_;  // for the plugin calls we run
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
