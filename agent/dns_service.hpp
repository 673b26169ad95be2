// The embedded DNS of every network in the store: one dns::Server per address it answers on,
// reconciled with the store's endpoint records (dns/records.hpp) on every sync.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dns/server.hpp"
#include "lib/cni/error.hpp"
#include "lib/store/store.hpp"

namespace weir::dns {
struct ListenerSpec;
}

namespace weir::agent {

class DnsService {
 public:
  struct Options {
    std::string resolv_conf = "/etc/resolv.conf";
    uint16_t port = 53;
  };
  // Reads every endpoint record of the store.
  using ReadEndpoints = std::function<Expected<std::vector<store::Endpoint>>()>;

  DnsService(Options options, ReadEndpoints read) : opts_(std::move(options)), read_(std::move(read)) {}

  // Re-reads the store and makes the servers match it. A failure keeps what was served.
  Expected<void> sync();
  // How many networks have DNS now (0: nothing to serve).
  size_t networks() const { return networks_; }
  // How many syncs ran.
  uint64_t syncs() const { return syncs_; }

 private:
  Expected<std::unique_ptr<dns::Server>> start_server(const dns::ListenerSpec& spec);

  Options opts_;
  ReadEndpoints read_;
  std::map<std::string, std::unique_ptr<dns::Server>> servers_;
  size_t networks_ = 0;
  uint64_t syncs_ = 0;
};

}  // namespace weir::agent
