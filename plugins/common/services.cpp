#include "plugins/common/services.hpp"

#include <sys/stat.h>

#include <optional>

#include "lib/store/paths.hpp"
#include "plugins/common/embedded_dns.hpp"
#include "plugins/common/link_reaper.hpp"
#include "plugins/common/store_open.hpp"

namespace weir::plugins {

std::string_view step_name(AddStep step) {
  switch (step) {
    case AddStep::kLease:
      return "lease";
    case AddStep::kBridge:
      return "bridge";
    case AddStep::kVeth:
      return "veth";
    case AddStep::kAddresses:
      return "addresses";
    case AddStep::kNetworkRules:
      return "network-rules";
    case AddStep::kEndpointRules:
      return "endpoint-rules";
    case AddStep::kRecord:
      return "record";
    case AddStep::kDns:
      return "dns";
  }
  return "?";
}

Expected<store::Store*> ProcessServices::store() {
  if (!store_) {
    auto st = open_store(backend(), data_dir());
    if (!st) return fail(st.error());
    store_ = std::move(*st);
  }
  return store_.get();
}

Expected<void> ProcessServices::sync_dns(bool start) {
  return plugins::sync_dns(data_dir(), start);
}

Expected<void> ProcessServices::delete_link_later(int ifindex) {
  return plugins::delete_link_later(data_dir(), ifindex);
}

std::unique_ptr<Services> process_services(const std::string& data_dir,
                                           const store::Backend& backend) {
  return std::make_unique<ProcessServices>(data_dir, backend);
}

namespace {

// A data folder by device and inode ("<dev>:<ino>"), nullopt when it cannot be read.
std::optional<std::string> folder_id(const std::string& data_dir) {
  struct stat st {};
  if (::stat(store::data_folder(data_dir).c_str(), &st) != 0) return std::nullopt;
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

}  // namespace

bool same_folder(const std::string& a, const std::string& b) {
  if (store::data_folder(a) == store::data_folder(b)) return true;
  const auto id = folder_id(a);
  return id && id == folder_id(b);
}

}  // namespace weir::plugins
