#include "agent/client/control.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "lib/cni/fd.hpp"
#include "lib/store/backend.hpp"
#include "lib/store/data_dir.hpp"
#include "lib/store/paths.hpp"
#include "lib/store/sqlite.hpp"

namespace weir::agent {

namespace {

using Fd = UniqueFd;

// Connects to the control socket; ENOENT/ECONNREFUSED mean no agent is listening.
Expected<Fd> connect_control(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fail(cni::sys_error(errno, "control socket", cni::Code::kIoFailure));
  const auto addr = socket_address(path);
  if (!addr) return fail(cni::invalid_config("agent socket path \"" + path + "\" is too long"));
  // connect() follows a link: agent.sock must be the socket itself (a link could lead the call
  // to any root daemon's socket).
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
    return fail(cni::make_error(cni::Code::kStore, "weir-agent socket \"" + path +
                                                       "\" is not a socket (a link?): remove it"));
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    return fail(
        cni::sys_error(errno, "connect to weir-agent at \"" + path + "\"", cni::Code::kIoFailure));
  }
  // Whoever listens gets the whole call, and we take its answer: root or ourselves only.
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      !store::trusted_uid(cred.uid)) {
    return fail(cni::make_error(cni::Code::kStore,
                                "weir-agent socket \"" + path + "\" is served by uid " +
                                    std::to_string(cred.uid) +
                                    ", not root: not talking to it (remove it, and make the data "
                                    "folder writable by root only)"));
  }
  return fd;
}

Expected<std::string> read_line(int fd, Clock::time_point deadline) {
  std::string line;
  char buf[256];
  while (line.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n == 0) return fail(cni::try_again_later("weir-agent did not answer in time"));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(cni::sys_error(errno, "wait for weir-agent", cni::Code::kIoFailure));
    }
    ssize_t r = ::read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    // EOF is a reset too: either way the agent went away without answering.
    if (r <= 0) {
      return fail(cni::sys_error(r < 0 ? errno : ECONNRESET, "weir-agent closed the connection",
                                 cni::Code::kIoFailure));
    }
    line.append(buf, static_cast<size_t>(r));
  }
  return line.substr(0, line.find('\n'));
}

// "<code> <why>" after an agent's "error": its own CNI code (a store failure is 102, not an I/O
// one); an agent of an older build sends no code.
cni::Error agent_error(std::string why) {
  int code = static_cast<int>(cni::Code::kIoFailure);
  if (const size_t sp = why.find(' '); sp != std::string::npos && sp > 0 &&
                                       why.find_first_not_of("0123456789") == sp) {
    code = std::atoi(why.substr(0, sp).c_str());
    why.erase(0, sp + 1);
  }
  return cni::make_error(static_cast<cni::Code>(code), "weir-agent: " + why);
}

// An ADD's sync names our netns: an agent elsewhere would bind the new DNS listeners in the
// wrong one, and refuses. A DEL's or GC's only drops names, which is right from anywhere.
Expected<void> ask_sync(int fd, Clock::time_point deadline, bool adding) {
  const std::string sync = adding ? "sync " + netns_id() + "\n" : std::string("sync\n");
  if (::send(fd, sync.data(), sync.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(sync.size())) {
    return fail(cni::sys_error(errno, "write to weir-agent", cni::Code::kIoFailure));
  }
  auto line = read_line(fd, deadline);
  if (!line) return fail(line.error());
  if (line->rfind("ok", 0) == 0) return {};
  return fail(agent_error(line->substr(line->find(' ') + 1)));
}

// No agent listens (ENOENT, ECONNREFUSED: none, or one killed), or the one we reached went away
// without answering (ECONNRESET, EPIPE): it was exiting, idle, as we connected. The listening
// socket of an exiting agent still queues connections until it is closed, then resets them.
bool agent_gone(const cni::Error& e) {
  return e.sys_errno == ENOENT || e.sys_errno == ECONNREFUSED || e.sys_errno == ECONNRESET ||
         e.sys_errno == EPIPE;
}

// Connects and asks for a sync.
Expected<void> sync_running(const std::string& socket, Clock::time_point deadline, bool adding) {
  auto fd = connect_control(socket);
  if (!fd) return fail(fd.error());
  return ask_sync(fd->get(), deadline, adding);
}

std::string default_agent_binary() {
  return sibling_binary("weir-agent");
}

struct Spawn {
  std::string binary;
  std::string program;  // argv[0] when not the binary: the program of a multicall binary
  std::string_view data_dir;
  const Paths* paths = nullptr;
  int pass = -1;    // becomes the agent's fd 3
  std::string arg;  // and this option tells it what fd 3 is
  std::string more;  // one more option, if not empty
};

// Execs the agent as no child of ours: a new session, forked twice, so that it holds none of
// the plugin's descriptors (the runtime waits for EOF on the plugin's stdout) and pins no
// folder of the runtime (a mount it may want to unmount). Returns once the intermediate child
// is reaped.
Expected<void> spawn_agent(const Spawn& s) {
  const Paths& p = *s.paths;
  const int pass = s.pass;
  pid_t pid = ::fork();
  if (pid < 0) return fail(cni::sys_error(errno, "fork weir-agent", cni::Code::kIoFailure));
  if (pid == 0) {
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    if (::chdir("/") != 0) ::_exit(127);
    int null = ::open("/dev/null", O_RDWR);
    int log = ::open(p.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(log >= 0 ? log : null, 2);
    // dup2 onto itself would keep close-on-exec.
    if (pass == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else {
      ::dup2(pass, 3);
    }
    ::closefrom(4);
    // A daemon does not keep a real-time class its first caller may have run in.
    sched_param normal{};
    ::sched_setscheduler(0, SCHED_OTHER, &normal);
    for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Always the folder itself: an empty value would make the agent's option parser take the
    // next argument as the data dir.
    std::string dir = "--data-dir=" + store::data_folder(s.data_dir);
    const std::string& argv0 = s.program.empty() ? s.binary : s.program;
    const char* argv[] = {argv0.c_str(), dir.c_str(), s.arg.c_str(),
                          s.more.empty() ? nullptr : s.more.c_str(), nullptr};
    ::execv(s.binary.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return {};
}

// The last line the agent wrote to its log, for a message when it died before it was ready.
std::string last_log_line(const std::string& log) {
  Fd fd(::open(log.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return {};
  char buf[512];
  const off_t size = ::lseek(fd.get(), 0, SEEK_END);
  const off_t from = size > static_cast<off_t>(sizeof(buf)) ? size - static_cast<off_t>(sizeof(buf)) : 0;
  const ssize_t n = ::pread(fd.get(), buf, sizeof(buf), from);
  if (n <= 0) return {};
  std::string text(buf, static_cast<size_t>(n));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
}

// Starts a detached agent and waits until it reports its sockets bound (or fails).
Expected<void> start_agent(const SyncRequest& req, const Paths& p, Clock::time_point deadline) {
  std::string binary = req.agent_binary.empty() ? default_agent_binary() : req.agent_binary;
  // Said plainly here: the exec fails in a detached child, which can only close the pipe.
  if (::access(binary.c_str(), X_OK) != 0) {
    return fail(cni::sys_error(errno, "start weir-agent \"" + binary +
                                          "\" (it belongs next to the plugin)",
                               cni::Code::kIoFailure));
  }
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0)
    return fail(cni::sys_error(errno, "pipe", cni::Code::kIoFailure));
  Fd ready_r(ready[0]), ready_w(ready[1]);
  if (auto ok = spawn_agent({.binary = binary,
                             .data_dir = req.data_dir,
                             .paths = &p,
                             .pass = ready_w.get(),
                             .arg = "--ready-fd=3"});
      !ok) {
    return ok;
  }
  ready_w = Fd();  // our copy: EOF once the agent has written or died

  auto line = read_line(ready_r.get(), deadline);
  if (!line) {
    const std::string said = last_log_line(p.log);
    return fail(std::move(line.error())
                    .context("start weir-agent (" + binary + ", log " + p.log +
                             (said.empty() ? "" : ": \"" + said + "\"") + ")"));
  }
  // "ready": up, and its first sync read the store after our record was written, so that sync
  // is ours too. "ready error …": up, but that sync failed.
  if (*line == "ready") return {};
  if (line->rfind("ready error ", 0) == 0) return fail(agent_error(line->substr(12)));
  return fail(cni::make_error(cni::Code::kIoFailure, "weir-agent failed to start: " + *line));
}

}  // namespace

Expected<void> sync_agent(const SyncRequest& req) {
  const auto deadline = Clock::now() + req.timeout;
  const Paths p = paths_for(req.data_dir);
  auto ok = sync_running(p.socket, deadline, req.start);
  if (ok || !agent_gone(ok.error())) return ok;
  if (!req.start) return {};  // no agent: nothing serves old names

  // Only one plugin at a time checks and starts: a second one waits here, then finds the
  // agent the first one started.
  auto opened = store::open_data_file(p.start_lock, O_RDWR | O_CREAT, 0600);
  if (!opened) return fail(opened.error());
  Fd lock = std::move(*opened);
  // Bounded like the rest of the sync: a plugin stuck holding the lock must not hang them all.
  while (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return fail(cni::sys_error(errno, "lock \"" + p.start_lock + "\"", cni::Code::kIoFailure));
    }
    if (Clock::now() >= deadline) {
      return fail(cni::try_again_later("weir-agent: another plugin is starting it and has not finished (" +
                                       p.start_lock + ")"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ok = sync_running(p.socket, deadline, req.start);
  if (ok || !agent_gone(ok.error())) return ok;
  // An agent that is exiting has unlinked its socket before it answered its last sync, so a
  // new one is needed; it waits for the old one's lock itself.
  return start_agent(req, p, deadline);
}

void start_agent_in_background(std::string_view data_dir, const AgentPlugin& started_for,
                               bool on_etcd) {
  // On etcd: weir-cluster's weir-agent, which has the etcd store (handoff.hpp).
  const std::string binary = on_etcd ? sibling_binary("weir-cluster") : default_agent_binary();
  if (::access(binary.c_str(), X_OK) != 0) return;  // installed without it: calls run here
  const Paths p = paths_for(data_dir);
  if (!socket_address(p.socket)) return;  // no agent could listen there
  // Nowhere others could have planted files or sockets. On etcd nothing else may have made the
  // folder (weir-ipam keeps its leases there): made here, root's, for the agent's socket.
  if (!store::check_data_folder(data_dir, on_etcd)) return;
  auto opened = store::open_data_file(p.start_lock, O_RDWR | O_CREAT, 0600);
  if (!opened) return;
  Fd lock = std::move(*opened);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) return;  // being started
  if (running_agent(data_dir)) return;
  // The agent inherits the locked description as fd 3 and closes it once it listens: until
  // then other plugins wait for it, or leave the starting to it.
  (void)spawn_agent({.binary = binary,
                     .program = on_etcd ? "weir-agent" : "",
                     .data_dir = data_dir,
                     .paths = &p,
                     .pass = lock.get(),
                     .arg = "--start-lock-fd=3",
                     .more = "--started-for=" + std::string(started_for.name)});
}

cni::Verbs starting_agent(cni::Verbs verbs, const AgentPlugin& plugin) {
  verbs.add = [add = std::move(verbs.add), plugin](const cni::Call& call) {
    auto result = add(call);
    const auto backend = store::backend_for(call.conf.raw);
    if (result && backend) {
      const std::string dir = agent_dir_of(plugin, call.stdin_bytes);
      if (!dir.empty()) start_agent_in_background(dir, plugin, backend->etcd_backed());
    }
    return result;
  };
  return verbs;
}

std::optional<pid_t> running_agent(std::string_view data_dir) {
  const Paths p = paths_for(data_dir);
  Fd fd(::open(p.lock.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return std::nullopt;
  // A shared lock succeeds only while no agent holds the exclusive one; it is dropped at once,
  // and an agent starting meanwhile waits for it (flock is fair enough for that instant).
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;
  char buf[32] = {};
  ssize_t n = ::pread(fd.get(), buf, sizeof(buf) - 1, 0);
  if (n <= 0) return std::nullopt;
  long pid = std::strtol(buf, nullptr, 10);
  if (pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

}  // namespace weir::agent
