// weir-agent's worker: serves the DNS (dns_service) and runs the plugin calls (plugin_host)
// on the control connections it accepts (control_server), until idle, SIGTERM or SIGINT. The
// supervisor (supervisor.cpp) holds the agent lock and the listening socket, which it lends us
// once we are ready.
#include "agent/agent.hpp"

#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "agent/client/call.hpp"
#include "agent/control_server.hpp"
#include "agent/dns_service.hpp"
#include "agent/log.hpp"
#include "agent/plugin_host.hpp"
#include "agent/worker_channel.hpp"
#include "lib/cni/fd.hpp"
#include "lib/store/backend.hpp"
#include "lib/store/data_dir.hpp"
#include "lib/store/sqlite.hpp"

namespace weir::agent {

namespace {

using Fd = UniqueFd;

// Memory the agent's heap holds but no longer uses goes back to the kernel. glibc returns only
// the top of the heap by itself; a sync frees its scratch (the store's records, the zone
// build's maps, SQLite's page cache) all over it.
void trim_heap() {
  ::malloc_trim(0);
}

// The next queued control connection of root or our own user (SO_PEERCRED: only they may
// sync us or have a call run as root); an invalid Fd when there is none to serve.
Fd accept_trusted(int control) {
  Fd conn(::accept4(control, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (conn.get() < 0) {
    if (errno == EMFILE || errno == ENFILE) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // not a busy loop
    }
    return conn;
  }
  if (!peer_trusted(conn.get())) {
    log_once("refused a control connection of a process of another user");
    return Fd();
  }
  return conn;
}

}  // namespace

int run_worker(const AgentOptions& options, const WorkerStart& start) {
  Fd channel(start.channel);
  // The agent lives long, and most of its memory is the zone snapshot, rebuilt on every sync.
  // glibc's defaults suit short programs: each free of a mapped block raises the mmap
  // threshold (up to 32 MiB), after which a zone's big tables come from the heap and stay
  // resident when that zone is dropped; and each thread that allocates gets an arena of its
  // own. A fixed threshold keeps a snapshot's big tables mappings of their own, unmapped when
  // the last worker lets go of the old snapshot. One arena: the workers allocate only for TCP
  // clients and forwarded queries (and per-thread caches serve most of that).
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  ::mallopt(M_ARENA_MAX, 1);
  auto fail_start = [&](const std::string& why) {
    log(why);
    (void)channel::send_message(channel.get(), std::string(channel::kFail) + why);
    return 1;
  };
  // Blocked before any thread exists (the DNS servers' workers inherit the mask): a signal
  // the signalfd is for must never reach a worker, whose default action would kill the
  // process (SIGHUP, the reload, included). SIGCHLD, which the supervisor waits for, is not
  // ours: the processes we start wait for their own children.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  ::pthread_sigmask(SIG_SETMASK, &sigs, nullptr);
  Fd sigfd(::signalfd(-1, &sigs, SFD_CLOEXEC));
  if (sigfd.get() < 0) return fail_start(std::string("signalfd: ") + std::strerror(errno));

  // Opened once here to fail early (and to migrate the database); each sync opens its own
  // connection. A plugin that starts us has written the store; only an agent started by hand
  // or by systemd (--stay) creates it.
  // Started for a network on etcd (as weir-cluster's weir-agent), the data dir may have no
  // SQLite store: none is made, and we serve that network's calls.
  const std::string database = store::database_path(options.data_dir);
  const bool without_sqlite =
      store::etcd_linked() && options.exit_when_idle && ::access(database.c_str(), F_OK) != 0;
  if (!without_sqlite) {
    if (auto st = store::SqliteStore::open(database, {.create = !options.exit_when_idle}); !st) {
      return fail_start(st.error().msg);
    }
  }
  // The DNS reads the store on the plugin host's connection while it has one open.
  std::unique_ptr<PluginHost> host;
  DnsService dns({.resolv_conf = options.resolv_conf, .port = options.dns_port},
                 [&host] { return host->read_endpoints(); });
  host = std::make_unique<PluginHost>(options.data_dir, database, [&dns] { return dns.sync(); });
  // Started in the background by a plugin: the calls it was started for come next. One that
  // replaces a worker that died stays while the store has endpoints, whose DELs may come to
  // it (as its predecessor did, once it had run weir-bridge's calls).
  if (options.started_for == proto::kIpam.name || without_sqlite) host->keep_for_grace();
  if (options.started_for == proto::kBridge.name || start.restarted) host->serve_bridge();
  // The plugin that started us wrote its record first: this sync answers its request too.
  auto first = dns.sync();
  if (!first) log("initial sync: " + first.error().msg);
  trim_heap();
  if (!channel::send_message(channel.get(), first ? std::string(channel::kReady)
                                                  : std::string(channel::kReady) + " error " +
                                                        std::to_string(static_cast<int>(first.error().code)) +
                                                        " " + first.error().msg)) {
    return 1;  // our supervisor is gone
  }
  // Its answer: the listening socket (nonblocking), which it keeps open as well.
  auto control = channel::receive_fd(channel.get());
  if (!control || control->get() < 0) return 1;

  // On the host-wide etcd store (/etc/weir/store.json) this host is present while we run,
  // before any call (an agent kept by systemd, --stay); in others from their first call. Opened
  // in the loop, after "ready": an etcd that does not answer delays no start.
  if (store::etcd_linked()) {
    if (auto backend = store::backend_for(nlohmann::json::object()); !backend) {
      log(backend.error().msg);
    } else if (backend->etcd_backed()) {
      host->keep_store(*backend);
    }
  }
  ControlServer server{.dns = dns, .host = *host, .own_netns = netns_id(), .own_ns = namespaces_id()};
  // Nothing to serve: no DNS network, and nothing keeps us for the plugin calls.
  auto idle = [&] { return dns.networks() == 0 && host->idle(); };
  bool running = true;
  while (running) {
    pollfd fds[3] = {
        {control->get(), POLLIN, 0}, {sigfd.get(), POLLIN, 0}, {channel.get(), POLLIN}};
    int n = ::poll(fds, 3, host->poll_timeout_ms());
    if (n < 0 && errno == EINTR) continue;
    host->keep_presence();
    if (n == 0) {
      // Idle for the whole grace period: exit (the supervisor then stops listening).
      if (host->forget_store_if_quiet()) trim_heap();
      if (idle() && options.exit_when_idle) break;
      continue;
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
    // The supervisor says nothing after the socket: anything on the channel is its end.
    if (fds[2].revents & (POLLIN | POLLHUP)) break;
    if (running && (fds[0].revents & POLLIN)) {
      if (Fd conn = accept_trusted(control->get()); conn.get() >= 0) {
        const bool synced = server.serve(conn.get());
        conn = Fd();  // the plugin has its answer: the rest is on our own time
        if (synced) trim_heap();
        host->checkpoint_if_due();
      }
      // The last DNS network is gone: exit now, so that the supervisor stops listening before
      // the lock is released, and a plugin that comes then starts a fresh agent instead of
      // talking to this one.
      if (idle() && options.exit_when_idle) running = false;
    }
  }
  log("exiting");
  return 0;
}

}  // namespace weir::agent
