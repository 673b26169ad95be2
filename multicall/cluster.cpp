// weir-cluster: weir's programs with the etcd store (lib/store/backend.hpp), linked dynamically
// since libcurl exists only as a shared library. The static programs hand it the calls of
// networks whose store is etcd (agent/client/handoff.hpp); it runs them as `weir` would.
#include "lib/store/backend.hpp"
#include "lib/store/etcd_store.hpp"

namespace {

weir::Expected<std::unique_ptr<weir::store::Store>> open_etcd(const weir::store::Backend& b) {
  auto s = weir::store::EtcdStore::open(b.etcd, {.prefix = b.prefix, .host = b.host});
  if (!s) return weir::fail(s.error());
  return std::unique_ptr<weir::store::Store>(std::move(*s));
}

// Before main: every program of this executable opens etcd stores.
const bool registered = (weir::store::set_etcd_opener(open_etcd), true);

}  // namespace
