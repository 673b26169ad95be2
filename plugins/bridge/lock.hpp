// Orders the removal of a network's bridge and rules against ADDs in flight: an ADD holds the
// lock shared from before it ensures the bridge until its endpoint is stored, and the
// "last endpoint gone → delete" step holds it exclusive, so it never deletes a bridge that a
// concurrent ADD is about to use (its endpoint is not in the store yet).
#pragma once

#include <string>

#include "lib/cni/error.hpp"
#include "lib/cni/fd.hpp"

namespace weir::plugins::bridge {

// <data_dir>/bridges.lock, by flock.
class BridgeLock {
 public:
  static Expected<BridgeLock> open(const std::string& data_dir);
  Expected<void> shared();
  Expected<void> exclusive();  // from shared: flock converts
  void release();

 private:
  explicit BridgeLock(UniqueFd fd) : fd_(std::move(fd)) {}
  Expected<void> take(int how);
  UniqueFd fd_;
};

}  // namespace weir::plugins::bridge
