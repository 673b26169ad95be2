#include "plugins/bridge/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

#include "lib/store/data_dir.hpp"
#include "lib/store/paths.hpp"

namespace weir::plugins::bridge {

Expected<BridgeLock> BridgeLock::open(const std::string& data_dir) {
  // No link followed, and a failure is the store's (102), naming the file.
  auto fd =
      store::open_data_file(store::data_file(data_dir, "bridges.lock"), O_RDWR | O_CREAT, 0600);
  if (!fd) return fail(fd.error());
  return BridgeLock(std::move(*fd));
}

Expected<void> BridgeLock::shared() {
  return take(LOCK_SH);
}
Expected<void> BridgeLock::exclusive() {
  return take(LOCK_EX);
}
void BridgeLock::release() {
  ::flock(fd_.get(), LOCK_UN);
}

Expected<void> BridgeLock::take(int how) {
  while (::flock(fd_.get(), how) != 0) {
    if (errno != EINTR)
      return fail(cni::sys_error(errno, "lock bridges.lock", cni::Code::kIoFailure));
  }
  return {};
}

}  // namespace weir::plugins::bridge
