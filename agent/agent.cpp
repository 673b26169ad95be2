// weir-agent's life cycle: one agent per data dir (its lock), started by a plugin or systemd,
// serving until idle, SIGTERM/SIGINT, or its data dir is removed. What it serves is in units
// of their own: the DNS (dns_service), the plugin calls (plugin_host), the control socket
// (control_server).
#include "agent/agent.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "agent/client/call.hpp"
#include "agent/control_server.hpp"
#include "agent/dns_service.hpp"
#include "agent/log.hpp"
#include "agent/plugin_host.hpp"
#include "lib/cni/fd.hpp"
#include "lib/store/data_dir.hpp"
#include "lib/store/sqlite.hpp"

namespace weir::agent {

namespace {

using Fd = UniqueFd;

// Takes the agent lock, waiting at most kLockWaitS for an agent that is exiting, and writes our
// pid into it. The SIGALRM handler must not have SA_RESTART (what signal() gives): flock is
// restarted after a handler that has it (signal(7)), and the wait would never end.
constexpr unsigned kLockWaitS = 5;

Expected<void> take_lock(int fd) {
  struct sigaction quiet {};
  struct sigaction old {};
  quiet.sa_handler = [](int) {};
  sigemptyset(&quiet.sa_mask);
  ::sigaction(SIGALRM, &quiet, &old);
  ::alarm(kLockWaitS);
  const int rc = ::flock(fd, LOCK_EX);
  const int err = errno;
  ::alarm(0);
  ::sigaction(SIGALRM, &old, nullptr);
  if (rc != 0) return fail(cni::sys_error(err == EINTR ? ETIMEDOUT : err, "flock"));
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return fail(cni::sys_error(errno, "write pid"));
  }
  return {};
}

// Memory the agent's heap holds but no longer uses goes back to the kernel. glibc returns only
// the top of the heap by itself; a sync frees its scratch (the store's records, the zone
// build's maps, SQLite's page cache) all over it.
void trim_heap() {
  ::malloc_trim(0);
}

void report_ready(int fd, const std::string& line) {
  if (fd < 0) return;
  std::string l = line + "\n";
  (void)!::write(fd, l.data(), l.size());
  ::close(fd);
}

// Wakes the agent when something in its data dir is deleted, or the dir itself: a removed data
// dir (a test's, a temp one) means nobody can reach the agent any more.
Fd watch_data_dir(const std::string& socket_path) {
  Fd fd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (fd.get() < 0) return fd;
  const std::string dir = std::filesystem::path(socket_path).parent_path().string();
  if (::inotify_add_watch(fd.get(), dir.c_str(), IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
    return Fd();
  }
  return fd;
}

}  // namespace

int run_agent(const AgentOptions& options) {
  // Owned from the start, so that its number is not reused before we let the lock go.
  Fd start_lock(options.start_lock_fd);
  // The agent lives long, and most of its memory is the zone snapshot, rebuilt on every sync.
  // glibc's defaults suit short programs: each free of a mapped block raises the mmap
  // threshold (up to 32 MiB), after which a zone's big tables come from the heap and stay
  // resident when that zone is dropped; and each thread that allocates gets an arena of its
  // own. A fixed threshold keeps a snapshot's big tables mappings of their own, unmapped when
  // the last worker lets go of the old snapshot. One arena: the workers allocate only for TCP
  // clients and forwarded queries (and per-thread caches serve most of that).
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  ::mallopt(M_ARENA_MAX, 1);
  const Paths p = paths_for(options.data_dir);
  auto fail_start = [&](const std::string& why) {
    log(why);
    report_ready(options.ready_fd, why);
    return 1;
  };
  // Blocked before any thread exists (the DNS servers' workers inherit the mask): a signal
  // the signalfd is for must never reach a worker, whose default action would kill the
  // process (SIGHUP, the reload, included).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  Fd sigfd(::signalfd(-1, &sigs, SFD_CLOEXEC));
  if (sigfd.get() < 0) return fail_start(std::string("signalfd: ") + std::strerror(errno));

  // One agent per data dir: the lock is held for the agent's whole life. An agent that is
  // just exiting still holds it for a moment, so wait (bounded) rather than give up.
  // Nothing in a folder others can change is opened, created or served (data_dir.hpp).
  if (auto ok = store::check_data_folder(options.data_dir, !options.exit_when_idle); !ok) {
    return fail_start(ok.error().msg);
  }
  auto opened = store::open_data_file(p.lock, O_RDWR | O_CREAT, 0600);
  if (!opened) return fail_start(opened.error().msg);
  Fd lock = std::move(*opened);
  if (auto ok = take_lock(lock.get()); !ok) {
    return fail_start("another weir-agent holds " + p.lock + ": " + ok.error().msg);
  }

  // Opened once here to fail early (and to migrate the database); each sync opens its own
  // connection. A plugin that starts us has written the store; only an agent started by hand
  // or by systemd (--stay) creates it.
  const std::string database = store::database_path(options.data_dir);
  if (auto st = store::SqliteStore::open(database, {.create = !options.exit_when_idle}); !st) {
    return fail_start(st.error().msg);
  }
  // The DNS reads the store on the plugin host's connection while it has one open.
  std::unique_ptr<PluginHost> host;
  DnsService dns({.resolv_conf = options.resolv_conf, .port = options.dns_port},
                 [&host] { return host->read_endpoints(); });
  host = std::make_unique<PluginHost>(options.data_dir, database, [&dns] { return dns.sync(); });
  // Started in the background by a plugin: the calls it was started for come next.
  if (options.started_for == proto::kIpam.name) host->keep_for_ipam();
  if (options.started_for == proto::kBridge.name) host->serve_bridge();
  // The plugin that started us wrote its record first: this sync answers its request too.
  auto first = dns.sync();
  if (!first) log("initial sync: " + first.error().msg);
  trim_heap();

  auto control = listen_control(p.socket);
  if (!control) return fail_start(control.error().msg);
  // Ours by inode: a data dir removed and made again may hold another agent's socket.
  struct stat bound {};
  ::stat(p.socket.c_str(), &bound);
  report_ready(options.ready_fd, first ? std::string("ready")
                                       : "ready error " + std::to_string(static_cast<int>(first.error().code)) +
                                             " " + first.error().msg);
  start_lock = Fd();  // listening: the plugins waiting to start an agent find this one
  log("serving (pid " + std::to_string(::getpid()) + ")");

  ControlServer server{.dns = dns, .host = *host, .own_netns = netns_id(), .own_ns = namespaces_id()};
  // Nothing to serve: no DNS network, and nothing keeps us for the plugin calls.
  auto idle = [&] { return dns.networks() == 0 && host->idle(); };
  Fd watch = watch_data_dir(p.socket);
  auto socket_ours = [&] {
    struct stat st {};
    return ::stat(p.socket.c_str(), &st) == 0 && st.st_dev == bound.st_dev &&
           st.st_ino == bound.st_ino;
  };
  auto socket_gone = [&] {
    if (socket_ours()) return false;
    log("control socket " + p.socket + " is gone; exiting");
    return true;
  };
  bool running = !socket_gone();  // removed before the watch began
  while (running) {
    pollfd fds[3] = {
        {control->get(), POLLIN, 0}, {sigfd.get(), POLLIN, 0}, {watch.get(), POLLIN, 0}};
    int n = ::poll(fds, 3, host->poll_timeout_ms());
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      // Idle for the whole grace period, or our data dir is gone (nobody can reach us and
      // the store we serve no longer exists): exit.
      if (host->forget_store_if_quiet()) trim_heap();
      if (idle() && options.exit_when_idle) break;
      if (socket_gone()) break;
      continue;
    }
    if (fds[2].revents & POLLIN) {
      char events[4096];
      while (::read(watch.get(), events, sizeof(events)) > 0) {
      }
      if (socket_gone()) break;
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo si{};
      (void)!::read(sigfd.get(), &si, sizeof(si));
      if (si.ssi_signo == SIGHUP) {
        if (auto ok = dns.sync(); !ok) log("sync: " + ok.error().msg);
        trim_heap();
      } else {
        running = false;
      }
    }
    if (running && (fds[0].revents & POLLIN)) {
      Fd conn(::accept4(control->get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (conn.get() < 0 && (errno == EMFILE || errno == ENFILE)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // not a busy loop
      }
      // Only root and our own user may sync us or have a call run as root (SO_PEERCRED).
      if (conn.get() >= 0 && !peer_trusted(conn.get())) {
        log_once("refused a control connection of a process of another user");
        conn = Fd();
      }
      if (conn.get() >= 0) {
        const bool synced = server.serve(conn.get());
        conn = Fd();  // the plugin has its answer: the rest is on our own time
        if (synced) trim_heap();
        host->checkpoint_if_due();
      }
      // The last DNS network is gone: stop listening before the lock is released, so that a
      // plugin that comes now starts a fresh agent instead of talking to this one.
      if (idle() && options.exit_when_idle) running = false;
    }
  }
  // Stop taking plugins first: connections still queued are reset, and their plugins start a
  // new agent, which waits for our lock.
  if (socket_ours()) ::unlink(p.socket.c_str());
  *control = Fd();
  log("exiting");
  return 0;
}

}  // namespace weir::agent
