#include "plugins/common/link_reaper.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "lib/cni/fd.hpp"
#include "lib/netlink/netlink.hpp"
#include "lib/store/sqlite.hpp"

namespace weir::plugins {

namespace {

std::string lock_path(const std::string& data_dir) {
  return (data_dir.empty() ? std::string(store::kDefaultDataDir) : data_dir) + "/reaper.lock";
}

Expected<UniqueFd> lock(const std::string& data_dir, int how) {
  const std::string path = lock_path(data_dir);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (fd.get() < 0) return fail(cni::sys_error(errno, "open \"" + path + "\"", cni::Code::kIoFailure));
  while (::flock(fd.get(), how) != 0) {
    if (errno != EINTR) return fail(cni::sys_error(errno, "lock \"" + path + "\"", cni::Code::kIoFailure));
  }
  return fd;
}

Expected<void> delete_now(int ifindex) {
  auto sock = netlink::Socket::open();
  if (!sock) return fail(sock.error());
  return netlink::del_link(*sock, ifindex);  // a link already gone is success
}

}  // namespace

Expected<void> delete_link_later(const std::string& data_dir, int ifindex) {
  // Taken before the fork: the child inherits the lock, so wait_for_reapers() can never slip
  // in between the fork and the child's first step.
  auto held = lock(data_dir, LOCK_SH);
  if (!held) return delete_now(ifindex);
  const pid_t pid = ::fork();
  if (pid < 0) return delete_now(ifindex);
  if (pid > 0) return {};  // our copy of the lock goes with `held`; the child's stays

  // The child. The runtime reads the plugin's stdout and stderr until EOF, so it keeps no copy
  // of them, nor of any other descriptor but the lock; a new session keeps it out of signals
  // meant for the caller's process group.
  ::setsid();
  if (::chdir("/") != 0) ::_exit(1);
  const int null = ::open("/dev/null", O_RDWR);
  ::dup2(null, 0);
  ::dup2(null, 1);
  ::dup2(null, 2);
  ::dup2(held->get(), 3);
  ::closefrom(4);
  ::_exit(delete_now(ifindex) ? 0 : 1);
}

Expected<void> wait_for_reapers(const std::string& data_dir) {
  auto held = lock(data_dir, LOCK_EX);
  if (!held) return fail(held.error());
  return {};
}

}  // namespace weir::plugins
