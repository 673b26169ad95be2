#include "plugins/common/store_open.hpp"

#include "lib/store/data_dir.hpp"

namespace weir::plugins {

Expected<std::unique_ptr<store::Store>> open_store(const store::Backend& backend,
                                                   const std::string& data_dir) {
  // SQLite checks its folder as it opens the file; etcd has no file there, but the locks, the
  // agent and the link marks (store::link_mark: the folder's inode) need the folder all the same.
  if (backend.etcd_backed()) {
    if (auto ok = store::check_data_folder(data_dir, true); !ok) return fail(ok.error());
  }
  return store::open_backend(backend, data_dir);
}

Expected<NetworkStore> open_store(const cni::NetConf& conf, const std::string& data_dir) {
  auto backend = store::backend_for(conf.raw);
  if (!backend) return fail(backend.error());
  auto st = open_store(*backend, data_dir);
  if (!st) return fail(st.error());
  return NetworkStore{
      .backend = std::move(*backend), .data_dir = data_dir, .store = std::move(*st)};
}

}  // namespace weir::plugins
