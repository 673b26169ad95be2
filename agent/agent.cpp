#include "agent/agent.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "agent/control.hpp"
#include "agent/records.hpp"
#include "dns/resolv.hpp"
#include "ipam/ipam.hpp"
#include "lib/cni/fd.hpp"
#include "lib/netns/netns.hpp"
#include "lib/store/data_dir.hpp"
#include "lib/store/sqlite.hpp"
#include "plugins/bridge/bridge.hpp"
#include "plugins/common/link_reaper.hpp"

namespace weir::agent {

namespace {

// With no DNS network, wait this long for a plugin before exiting (a starter that died), and
// stay this long after the last weir-ipam call; close the store after this long without any.
constexpr int kIdleGraceMs = 30'000;

using Fd = UniqueFd;

void log(const std::string& msg) {
  std::cerr << "weir-agent: " << msg << std::endl;
}

// A socket bound to 127.0.0.11:port in the calling thread's netns (a container's).
Expected<Fd> bound_socket(int type, const net::IpAddr& ip, uint16_t port) {
  Fd fd(::socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return fail(cni::sys_error(errno, "socket"));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // The container's loopback may still be down when we bind.
  ::setsockopt(fd.get(), IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  std::memcpy(&sa.sin_addr, ip.data(), 4);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return fail(cni::sys_error(errno, "bind " + ip.str() + ":" + std::to_string(port)));
  }
  return fd;
}

// Where each network's members' queries arrive (zone.hpp): the index of its bridge now. A
// network served on a gateway whose bridge is not found gets link 0, on which no datagram
// arrives: it answers no UDP query until a sync finds the bridge again (the ADD that makes it
// again syncs). A bridge made again under a new index is found by the sync of that ADD.
void resolve_links(Plan& plan) {
  for (auto& n : plan.networks) {
    n.links.clear();
    if (auto it = plan.bridges.find(n.name); it != plan.bridges.end()) {
      for (const auto& name : it->second) {
        if (const unsigned index = ::if_nametoindex(name.c_str()); index != 0)
          n.links.push_back(static_cast<int>(index));
      }
    }
    if (n.links.empty() && !n.listen.empty()) n.links.push_back(0);
  }
}

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

class Agent {
 public:
  Agent(const AgentOptions& o, std::string database) : opts_(o), database_(std::move(database)) {}

  // Re-reads the store and makes the servers match it. A failure keeps what was served.
  Expected<void> sync() {
    ++syncs_;
    Plan plan;
    {
      auto endpoints = read_endpoints();
      if (!endpoints) return fail(endpoints.error());
      plan = plan_from(*endpoints);
      resolve_links(plan);
    }  // the records go before the zone is built: a lower peak
    dns::ZoneOptions zo{.skip_invalid_endpoints = true};
    if (auto ups = dns::read_resolv_conf(opts_.resolv_conf)) zo.host_upstreams = std::move(*ups);
    auto zone = dns::build_zone(plan.networks, plan.endpoints, zo);
    if (!zone) return fail(zone.error());
    plan.endpoints = {};
    for (const auto& why : (*zone)->skipped()) log("not served: " + why);

    std::string errors;
    std::map<std::string, std::unique_ptr<dns::Server>> next;
    for (const auto& spec : plan.listeners) {
      auto it = servers_.find(spec.key);
      if (it != servers_.end()) {
        next[spec.key] = std::move(it->second);
        servers_.erase(it);
        continue;
      }
      auto server = start_server(spec);
      if (!server) {
        // A container whose netns is gone (its DEL never came; GC will forget it) has nobody
        // to answer: not a reason to fail every other container's ADD on this host.
        if (server.error().sys_errno == ENOENT) {
          log("not served: " + server.error().msg);
          continue;
        }
        errors += (errors.empty() ? "" : "; ") + server.error().msg;
        continue;
      }
      next[spec.key] = std::move(*server);
    }
    servers_.swap(next);  // what is left in `next` is no longer wanted and stops here
    next.clear();
    for (auto& [key, server] : servers_) server->set_zone(*zone);
    networks_ = plan.networks.size();
    if (!errors.empty())
      return fail(cni::make_error(cni::Code::kIoFailure, "DNS listeners: " + errors));
    return {};
  }

  // Runs a call of weir-ipam or weir-bridge as the plugin would, on the store kept open between
  // calls: no WAL index to rebuild, no schema to parse, statements already prepared. nullopt
  // when the store cannot be opened (its folder was removed): we do not bring it back, the
  // caller runs it.
  std::optional<PluginReply> run(const AgentPlugin& plugin, const PluginCall& call) {
    drop_store_if_replaced();
    if (!store_) {
      auto st = store::SqliteStore::open(database_, {.create = false, .defer_checkpoint = true});
      if (!st) return std::nullopt;
      store_ = std::make_unique<store::SqliteStore>(std::move(*st));
    }
    last_call_ = Clock::now();
    log_once("serving " + std::string(plugin.name) + " calls");
    cni::MapEnv env(call.env, call.stdin_bytes);
    int code = 0;
    if (&plugin == &kBridgePlugin) {
      serve_bridge();
      bridge_.store = store_.get();
      code = cni::plugin_main(env, plugins::bridge::verbs(&bridge_), kBridgePlugin.name);
    } else {
      const ipam::OpenStore open{.data_dir = opts_.data_dir, .store = store_.get()};
      code = cni::plugin_main(env, ipam::verbs(open, ipam_seams_), ipam::kPluginName);
    }
    return PluginReply{.exit_code = code, .out = env.out_str(), .err = env.err_str()};
  }

  // A weir-ipam call came (run here or not): stay for the grace, for the ones that follow.
  void keep_for_ipam() { last_ipam_ = Clock::now(); }

  // How long until the next look at whether we are idle, for poll: soon while veths are being
  // deleted (we exit once they are), else the end of the weir-ipam grace, or a whole grace.
  int poll_timeout_ms() {
    if (reaper_.busy()) return 20;
    if (!ipam_recent()) return kIdleGraceMs;
    const auto end = *last_ipam_ + std::chrono::milliseconds(kIdleGraceMs);
    return std::max(remaining_ms(end), 1);
  }

  // We run weir-bridge's calls: stay while the store has endpoints (see idle).
  void serve_bridge() { serves_bridge_ = true; }

  // How many syncs ran (a weir-bridge call may have run one).
  uint64_t syncs() const { return syncs_; }

  // Logs msg the first time only.
  void log_once(const std::string& msg) {
    if (said_.insert(msg).second) log(msg);
  }

  // After the reply: the plugin does not wait for the checkpoint's fdatasyncs.
  void checkpoint_if_due() {
    if (store_) store_->checkpoint_if_due();
  }

  bool ipam_recent() const {
    return last_ipam_ && Clock::now() - *last_ipam_ < std::chrono::milliseconds(kIdleGraceMs);
  }
  // Serves no more plugin calls (see binary_replaced).
  void stop_calls() {
    last_ipam_.reset();
    serves_bridge_ = false;
    store_.reset();
  }

  // The file was truncated or replaced (weirctl store rebuild) under the open store: open it
  // again, which refuses what is not a weir store (the caller then runs the call and reports
  // it), and takes a rebuilt one.
  void drop_store_if_replaced() {
    if (!store_) return;
    if (auto same = store_->same_file(); !same) {
      log(same.error().msg);
      store_.reset();
    }
  }

  // No plugin call for a while: give the store's memory back. Returns whether it did.
  bool forget_store_if_quiet() {
    if (!store_ ||
        (last_call_ && Clock::now() - *last_call_ < std::chrono::milliseconds(kIdleGraceMs))) {
      return false;
    }
    store_.reset();
    return true;
  }

  // Nothing to serve: no DNS network, no weir-ipam call within the grace, and — once we run
  // weir-bridge's calls — no endpoint left in the store (its containers' DELs come to us).
  bool idle() {
    // Not with deletes queued: the thread would finish them while we hold the agent lock, and
    // a new agent waits for that lock only so long.
    if (networks_ != 0 || ipam_recent() || reaper_.busy()) return false;
    if (!serves_bridge_) return true;
    bool any = false;
    auto read = view_store([&](store::Txn& t) -> Expected<void> {
      auto has = t.has_endpoints("");
      if (!has) return fail(has.error());
      any = *has;
      return {};
    });
    return !read || !any;  // a store we cannot read (removed) has no endpoint to serve either
  }

 private:
  // A read on the connection the plugin calls use while it is open (a weir-bridge call's own
  // sync, in particular). Otherwise on one opened for it and closed after it: between syncs
  // the agent keeps no SQLite connection of its own, whose page cache alone grows to 2 MiB
  // over 10,000 endpoints. Not created when missing: the data dir may have been removed under
  // a running agent (which then exits, see run_agent).
  Expected<void> view_store(const store::TxnFn& fn) {
    drop_store_if_replaced();
    if (store_) return store_->view(fn);
    auto st = store::SqliteStore::open(database_, {.create = false});
    if (!st) return fail(st.error());
    return st->view(fn);
  }

  Expected<std::vector<store::Endpoint>> read_endpoints() {
    std::vector<store::Endpoint> endpoints;
    auto read = view_store([&](store::Txn& t) -> Expected<void> {
      auto eps = t.list_endpoints("");
      if (!eps) return fail(eps.error());
      endpoints = std::move(*eps);
      return {};
    });
    if (!read) return fail(read.error());
    return endpoints;
  }

  Expected<std::unique_ptr<dns::Server>> start_server(const ListenerSpec& spec) {
    dns::Listener l{.address = {spec.address, opts_.dns_port},
                    .container_id = spec.container_id,
                    .freebind = true};
    if (!spec.netns.empty()) {
      auto ns = netns::Handle::open(spec.netns);
      if (!ns) return fail(ns.error());
      auto fds = netns::run_in(*ns, [&]() -> Expected<std::pair<Fd, Fd>> {
        auto udp = bound_socket(SOCK_DGRAM, spec.address, opts_.dns_port);
        if (!udp) return fail(udp.error());
        auto tcp = bound_socket(SOCK_STREAM, spec.address, opts_.dns_port);
        if (!tcp) return fail(tcp.error());
        return std::pair<Fd, Fd>{std::move(*udp), std::move(*tcp)};
      });
      if (!fds)
        return fail(std::move(fds.error()).context("resolver in netns \"" + spec.netns + "\""));
      l.udp_fd = fds->first.release();
      l.tcp_fd = fds->second.release();
    }
    auto server =
        dns::Server::create({.listeners = {l}, .log = [](dns::LogLevel level, std::string_view m) {
                               if (level != dns::LogLevel::kDebug) log(std::string(m));
                             }});
    if (!server) return fail(std::move(server.error()).context("DNS on " + spec.key));
    if (auto ok = (*server)->start(); !ok) return fail(ok.error());
    return server;
  }

  AgentOptions opts_;
  std::string database_;
  std::map<std::string, std::unique_ptr<dns::Server>> servers_;
  size_t networks_ = 0;
  std::unique_ptr<store::SqliteStore> store_;  // for the plugin calls we run
  std::optional<Clock::time_point> last_call_;
  std::optional<Clock::time_point> last_ipam_;
  bool serves_bridge_ = false;
  uint64_t syncs_ = 0;
  std::set<std::string> said_;
  // The boot id cannot change while we run: read once, not on every call.
  const ipam::Seams ipam_seams_{.boot_id = [id = ipam::read_boot_id()] { return id; }};
  // Its thread is started by the first weir-bridge DEL, on our main thread and in our netns
  // (DEL never enters a container's), where the veths it deletes are.
  plugins::ReaperThread reaper_{opts_.data_dir};
  // What weir-bridge's verbs borrow when we run them.
  plugins::bridge::Resident bridge_{
      .data_dir = opts_.data_dir,
      .store = nullptr,  // set per call, see run()
      .sync_dns = [this]() -> Expected<void> { return sync(); },
      .delete_link_later = [this](int ifindex) { return reaper_.delete_later(ifindex); },
      .ipam_seams = &ipam_seams_};
};

void report_ready(int fd, const std::string& line) {
  if (fd < 0) return;
  std::string l = line + "\n";
  (void)!::write(fd, l.data(), l.size());
  ::close(fd);
}

Expected<Fd> listen_control(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fail(cni::sys_error(errno, "control socket"));
  const auto addr = socket_address(path);
  if (!addr) return fail(cni::invalid_config("socket path too long: " + path));
  ::unlink(path.c_str());  // a stale socket of an agent that died; we hold the lock now
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    return fail(cni::sys_error(errno, "bind \"" + path + "\""));
  }
  ::fchmodat(AT_FDCWD, path.c_str(), 0600, AT_SYMLINK_NOFOLLOW);
  if (::listen(fd.get(), 64) != 0) return fail(cni::sys_error(errno, "listen \"" + path + "\""));
  return fd;
}

// The plugins whose calls we run.
constexpr const AgentPlugin* kPlugins[] = {&kIpamPlugin, &kBridgePlugin};

// What a plugin sent. A plugin call ("<request> <namespaces> <body bytes>\n", call.hpp) is read
// with its whole body (`complete` when it came in time, well formed and within bounds;
// `netns` and `body` then say where its parts are); anything else as its first line
// ("sync …\n").
struct Request {
  std::string bytes;
  const AgentPlugin* plugin = nullptr;  // a plugin call
  bool complete = false;
  std::string netns;
  size_t body = 0;  // offset of the body
};
Request read_request(int conn) {
  constexpr size_t kMaxHeader = 256;
  constexpr size_t kMaxBody = 4 << 20;
  const auto deadline = Clock::now() + std::chrono::seconds(1);
  Request req;
  size_t want = 0;  // header + body, once the header is in
  char buf[16384];
  for (;;) {
    const size_t eol = req.bytes.find('\n');
    if (want == 0 && eol == std::string::npos && req.bytes.size() > kMaxHeader) return req;
    if (want == 0 && eol != std::string::npos) {
      for (const AgentPlugin* p : kPlugins) {
        const std::string_view word = p->request;
        if (req.bytes.starts_with(word) && req.bytes[word.size()] == ' ') req.plugin = p;
      }
      if (req.plugin == nullptr) return req;
      const size_t head = std::string_view(req.plugin->request).size() + 1;
      const size_t sp = req.bytes.rfind(' ', eol);
      size_t len = 0;
      const char* first = req.bytes.data() + sp + 1;
      const char* last = req.bytes.data() + eol;
      auto [end, ec] = std::from_chars(first, last, len);
      if (sp < head || ec != std::errc() || end != last || len > kMaxBody) return req;
      req.netns = req.bytes.substr(head, sp - head);
      req.body = eol + 1;
      want = eol + 1 + len;
    }
    if (want != 0 && req.bytes.size() >= want) {
      req.complete = req.bytes.size() == want;
      return req;
    }
    pollfd p{conn, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return req;
    const ssize_t n = ::read(conn, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return req;
    req.bytes.append(buf, static_cast<size_t>(n));
  }
}

// Whether the caller hung up (killed, or it gave up waiting): its call is not run, it will not
// see the result, and the runtime then treats the ADD as failed.
bool caller_gone(int conn) {
  pollfd p{conn, POLLOUT, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

// Whether the executable we run from was deleted or replaced (a package upgrade renames a new
// file over it): the kernel then shows our path with " (deleted)".
bool binary_replaced() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf));
  return n > 0 && std::string_view(buf, static_cast<size_t>(n)).ends_with(" (deleted)");
}

// A plugin call (call.hpp) → its reply ("" when its caller is gone: no reply, no call).
std::string serve_call(const Request& request, int conn, Agent& agent, const std::string& own_ns) {
  const AgentPlugin& plugin = *request.plugin;
  // An upgrade replaced our binary: the caller runs the new plugin itself, and once we are
  // idle we exit, so that its next ADD starts an agent of the new version.
  if (binary_replaced()) {
    agent.log_once(
        "weir-agent was replaced on disk: plugin calls run in the caller until it "
        "is restarted");
    agent.stop_calls();
    return "elsewhere\n";
  }
  if (&plugin == &kIpamPlugin) agent.keep_for_ipam();
  // Cut short (too slow, too big, malformed): not run here, so the caller may run it.
  if (!request.complete) return "elsewhere\n";
  // The plugin works on the links, routes and paths it sees (IPAM picks a subnet by the
  // host's routes; weir-bridge makes the bridge and the veths): the caller's namespaces.
  if (request.netns.empty() || request.netns != own_ns) {
    agent.log_once("calls from other namespaces run there: this agent serves " + own_ns);
    return "elsewhere\n";
  }
  const std::string& req = request.bytes;
  PluginCall call;
  size_t at = request.body;
  for (;;) {
    const size_t end = req.find('\0', at);
    if (end == std::string::npos) return "elsewhere\n";
    if (end == at) break;  // the empty entry: the config follows
    const std::string_view var(req.data() + at, end - at);
    const size_t eq = var.find('=');
    if (eq == std::string_view::npos) return "elsewhere\n";
    call.env.emplace(var.substr(0, eq), var.substr(eq + 1));
    at = end + 1;
  }
  call.stdin_bytes = req.substr(at + 1);
  // ADD and DEL only, as the front end sends them: the rest runs in the plugin process.
  const auto command = call.env.find("CNI_COMMAND");
  if (command == call.env.end() || (command->second != "ADD" && command->second != "DEL")) {
    return "elsewhere\n";
  }
  if (caller_gone(conn)) return "";
  auto r = agent.run(plugin, call);
  if (!r) return "elsewhere\n";
  return "done " + std::to_string(r->exit_code) + " " + std::to_string(r->out.size()) + "\n" +
         r->out + r->err;
}

// One request per connection: "sync" → "ok <generation>" or "error <CNI code> <why>"; a
// plugin call → see call.hpp. Returns whether it rebuilt the zone (and so left scratch memory
// behind).
bool serve_one(int conn, Agent& agent, uint64_t& generation, const std::string& own_netns,
               const std::string& own_ns) {
  const Request request = read_request(conn);
  const std::string& req = request.bytes;
  if (req.empty()) return false;
  bool synced = false;
  std::string reply;
  if (req.starts_with("sync")) {
    // "sync <netns>": the DNS listeners go into the netns we run in, which must be the
    // plugin's (an older plugin sends no netns).
    const std::string netns = req.substr(4, req.find('\n') - 4);
    if (netns.size() > 1 && netns.substr(1) != own_netns) {
      reply = "error " + std::to_string(static_cast<int>(cni::Code::kIoFailure)) +
              " the weir-agent of this data dir runs in another netns (" + own_netns +
              "); serve each netns from a data dir of its own\n";
    } else {
      synced = true;
      auto ok = agent.sync();
      reply = ok ? "ok " + std::to_string(++generation) + "\n"
                 : "error " + std::to_string(static_cast<int>(ok.error().code)) + " " +
                       ok.error().msg + "\n";
      if (!ok) log("sync: " + ok.error().msg);
    }
  } else if (request.plugin != nullptr) {
    const uint64_t syncs = agent.syncs();
    reply = serve_call(request, conn, agent, own_ns);
    synced = agent.syncs() != syncs;  // a weir-bridge call of a DNS network
  } else {
    reply = "error 5 unknown request\n";
  }
  // Bounded: a caller that stops reading must not stop the agent.
  (void)send_all(conn, reply, Clock::now() + std::chrono::seconds(1));
  return synced;
}

bool peer_trusted(int conn) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  return ::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
         store::trusted_uid(cred.uid);
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
  Agent agent(options, database);
  // Started in the background by a plugin: the calls it was started for come next.
  if (options.started_for == kIpamPlugin.name) agent.keep_for_ipam();
  if (options.started_for == kBridgePlugin.name) agent.serve_bridge();
  // The plugin that started us wrote its record first: this sync answers its request too.
  auto first = agent.sync();
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

  const std::string own_netns = netns_id();
  const std::string own_ns = namespaces_id();
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
  uint64_t generation = 0;
  bool running = !socket_gone();  // removed before the watch began
  while (running) {
    pollfd fds[3] = {
        {control->get(), POLLIN, 0}, {sigfd.get(), POLLIN, 0}, {watch.get(), POLLIN, 0}};
    int n = ::poll(fds, 3, agent.poll_timeout_ms());
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      // Idle for the whole grace period, or our data dir is gone (nobody can reach us and
      // the store we serve no longer exists): exit.
      if (agent.forget_store_if_quiet()) trim_heap();
      if (agent.idle() && options.exit_when_idle) break;
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
        if (auto ok = agent.sync(); !ok) log("sync: " + ok.error().msg);
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
        agent.log_once("refused a control connection of a process of another user");
        conn = Fd();
      }
      if (conn.get() >= 0) {
        const bool synced = serve_one(conn.get(), agent, generation, own_netns, own_ns);
        conn = Fd();  // the plugin has its answer: the rest is on our own time
        if (synced) trim_heap();
        agent.checkpoint_if_due();
      }
      // The last DNS network is gone: stop listening before the lock is released, so that a
      // plugin that comes now starts a fresh agent instead of talking to this one.
      if (agent.idle() && options.exit_when_idle) running = false;
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
