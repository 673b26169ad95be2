#include "plugins/common/link_reaper.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include "lib/cni/fd.hpp"
#include "lib/netlink/netlink.hpp"
#include "lib/store/data_dir.hpp"
#include "lib/store/sqlite.hpp"

namespace weir::plugins {

namespace {

Expected<UniqueFd> lock_shared(const std::string& path) {
  auto opened = store::open_data_file(path, O_RDWR | O_CREAT, 0600);  // no link followed
  if (!opened) return fail(opened.error());
  UniqueFd fd = std::move(*opened);
  while (::flock(fd.get(), LOCK_SH) != 0) {
    if (errno != EINTR) return fail(cni::sys_error(errno, "lock \"" + path + "\"", cni::Code::kIoFailure));
  }
  return fd;
}

Expected<void> delete_now(int ifindex) {
  auto sock = netlink::Socket::open();
  if (!sock) return fail(sock.error());
  return netlink::del_link(*sock, ifindex);  // a link already gone is success
}

void log_failure(const std::string& log_path, int ifindex, const std::string& why) {
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  if (FILE* log = ::fdopen(fd, "a")) {
    std::fprintf(log, "weir: background delete of link %d failed: %s\n", ifindex, why.c_str());
    std::fclose(log);
  } else {
    ::close(fd);
  }
}

// The child's life: everything of the caller's dropped but the lock, then the delete.
[[noreturn]] void reap(int lock_fd, const std::string& log_path, int ifindex) {
  // The runtime reads the plugin's stdout and stderr until EOF, so the child keeps no copy of
  // them, nor of any other descriptor; a new session keeps it out of signals meant for the
  // caller's process group. The lock moves to 3 first: it may be 0–2 if the caller started us
  // with some of those closed.
  ::setsid();
  const int lock = ::fcntl(lock_fd, F_DUPFD, 10);
  if (const int null = ::open("/dev/null", O_RDWR); null >= 0) {
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
  }
  // Without a copy of the lock the delete still happens; only a waiter may return early.
  if (lock >= 0) ::dup2(lock, 3);
  ::closefrom(lock >= 0 ? 4 : 3);
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  (void)::chdir("/");  // pin no folder of the runtime's

  auto ok = delete_now(ifindex);
  if (!ok) log_failure(log_path, ifindex, ok.error().msg);
  ::_exit(ok ? 0 : 1);
}

}  // namespace

Expected<void> delete_link_later(const std::string& data_dir, int ifindex) {
  // Taken before the fork: the child inherits the lock, so a waiter can never slip in between
  // the fork and the child's first step.
  auto held = lock_shared(store::data_file(data_dir, "reaper.lock"));
  if (!held) return delete_now(ifindex);
  const std::string log_path = store::data_file(data_dir, "reaper.log");
  const pid_t pid = ::fork();
  if (pid < 0) return delete_now(ifindex);
  if (pid == 0) reap(held->get(), log_path, ifindex);
  return {};  // our copy of the lock goes with `held`; the child's stays
}

ReaperThread::~ReaperThread() {
  {
    std::lock_guard<std::mutex> hold(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool ReaperThread::busy() {
  std::lock_guard<std::mutex> hold(mu_);
  return busy_ || !queue_.empty();
}

Expected<void> ReaperThread::delete_later(int ifindex) {
  {
    std::lock_guard<std::mutex> hold(mu_);
    if (!thread_.joinable()) {
      try {
        thread_ = std::thread([this] { run(); });
      } catch (const std::system_error&) {
        return delete_now(ifindex);
      }
    }
    if (queue_.empty() && !busy_) {
      // Idle: nobody holds our share of the lock. Taken before DEL returns, so that a waiter
      // that comes after the DEL cannot slip in before the delete.
      auto held = lock_shared(store::data_file(data_dir_, "reaper.lock"));
      if (!held) return delete_now(ifindex);
      lock_ = std::move(*held);
    }
    queue_.push_back(ifindex);
  }
  wake_.notify_one();
  return {};
}

void ReaperThread::run() {
  // Opened once, in the netns the thread was started in (the agent's).
  auto sock = netlink::Socket::open();
  std::unique_lock<std::mutex> hold(mu_);
  for (;;) {
    wake_.wait(hold, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_, and nothing left to do
    const int ifindex = queue_.front();
    queue_.pop_front();
    busy_ = true;
    hold.unlock();
    auto ok = sock ? netlink::del_link(*sock, ifindex) : delete_now(ifindex);
    if (!ok) log_failure(store::data_file(data_dir_, "reaper.log"), ifindex, ok.error().msg);
    hold.lock();
    busy_ = false;
    if (queue_.empty()) lock_ = UniqueFd();  // all done: waiters may go on
  }
}

}  // namespace weir::plugins
