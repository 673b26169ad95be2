// The store of a network, as a plugin opens it: the backend its config names
// (lib/store/backend.hpp: "store", ipam.store, /etc/weir/store.json, else SQLite in the data
// folder). The data folder is weir's on every backend: its locks, its agent's socket and the
// mark on the links weir-bridge makes are there, so it is checked (and made) on etcd too.
#pragma once

#include <memory>
#include <string>

#include "ipam/ipam.hpp"
#include "lib/cni/config.hpp"
#include "lib/store/backend.hpp"
#include "lib/store/store.hpp"

namespace weir::plugins {

// A network's store, open, with what the in-process weir-ipam needs to use the same one.
struct NetworkStore {
  store::Backend backend;
  std::string data_dir;
  std::unique_ptr<store::Store> store;

  store::Store& operator*() const { return *store; }
  // For ipam_client: the allocator works on this store, not on one of its own.
  ipam::OpenStore ipam() const {
    return {.data_dir = data_dir, .store = store.get(), .backend = &backend};
  }
};

// Opens the store of a network whose config is `conf` and whose data folder is `data_dir`
// ("" = /var/lib/weir). Code 7 for a bad "store" object, 102 when it cannot be opened.
Expected<NetworkStore> open_store(const cni::NetConf& conf, const std::string& data_dir);

// Opens `backend` for `data_dir` (the folder checked and made first on etcd, as SQLite does).
Expected<std::unique_ptr<store::Store>> open_store(const store::Backend& backend,
                                                   const std::string& data_dir);

}  // namespace weir::plugins
