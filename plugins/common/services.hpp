// What a verb needs from the process it runs in, behind one interface: the network's store, the
// embedded DNS brought up to date, a link deleted in the background, and what the in-process
// IPAM borrows. A plugin process has ProcessServices (opens the network's store — SQLite or etcd,
// lib/store/backend.hpp —, asks weir-agent for a DNS sync over its socket, forks to delete a
// link); weir-agent lends its own for the SQLite store of the data dir it serves
// (agent/plugin_host.cpp: the store kept open, the DNS in-process, a reaper thread). The verbs
// cannot tell which one they have.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ipam/ipam.hpp"
#include "lib/cni/error.hpp"
#include "lib/store/backend.hpp"
#include "lib/store/store.hpp"

namespace weir::plugins {

// The steps of a plugin's ADD that change something, in order; Services::reached is told each
// one once it is done and its undo pushed.
enum class AddStep {
  kLease,
  kBridge,
  kVeth,
  kAddresses,
  kNetworkRules,
  kEndpointRules,
  kRecord,
  kDns
};
std::string_view step_name(AddStep step);

class Services {
 public:
  explicit Services(std::string data_dir, store::Backend backend = {})
      : data_dir_(std::move(data_dir)), backend_(std::move(backend)) {}
  virtual ~Services() = default;
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  // The data folder these services are for ("" = the default).
  const std::string& data_dir() const { return data_dir_; }
  // Which store the network's records are in (its config's, lib/store/backend.hpp).
  const store::Backend& backend() const { return backend_; }
  // The network's store, valid as long as these services.
  virtual Expected<store::Store*> store() = 0;
  // Makes the embedded DNS serve what the store holds now. `start`: after ADD stored its
  // endpoint (start an agent if none runs, and wait until it serves the new names); else a
  // running agent is told and none started.
  virtual Expected<void> sync_dns(bool start) = 0;
  // Deletes link `ifindex` of the calling thread's netns in the background (link_reaper.hpp).
  virtual Expected<void> delete_link_later(int ifindex) = 0;
  // What the in-process IPAM (weir-ipam) borrows: the network's store, and our seams.
  ipam::OpenStore ipam(store::Store& st) const {
    return {.data_dir = data_dir_, .store = &st, .seams = ipam_seams(), .backend = &backend_};
  }
  // ADD reached the end of `step`: it is done and its undo pushed. A fault point for the tests
  // that fail each step in turn (tests/privileged/bridge_undo_test.cpp); nothing the product
  // runs fails here.
  virtual Expected<void> reached(AddStep /*step*/) { return {}; }

 protected:
  virtual const ipam::Seams* ipam_seams() const { return nullptr; }

 private:
  std::string data_dir_;
  store::Backend backend_;
};

// The services for a config's data dir and store: a verb asks once it has parsed the config.
using ServicesFor = std::function<std::unique_ptr<Services>(const std::string& data_dir,
                                                            const store::Backend& backend)>;

// A plugin process's: the backend's store opened on first use (and closed with the services), the
// DNS synced with the data dir's weir-agent over its socket (embedded_dns.hpp sync_dns), a link
// deleted by a forked child (link_reaper.hpp delete_link_later).
class ProcessServices : public Services {
 public:
  using Services::Services;
  Expected<store::Store*> store() override;
  Expected<void> sync_dns(bool start) override;
  Expected<void> delete_link_later(int ifindex) override;

 private:
  std::unique_ptr<store::Store> store_;
};

std::unique_ptr<Services> process_services(const std::string& data_dir,
                                           const store::Backend& backend);

// Whether two spellings of a data dir ("/var/lib//weir", a symlink, "" for the default) are one
// folder: the same path, or the same device and inode.
bool same_folder(const std::string& a, const std::string& b);

}  // namespace weir::plugins
