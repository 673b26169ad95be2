// weir-agent's supervisor: one per data dir (agent.lock, with its pid), started by a plugin or
// systemd. It holds the lock and the listening control socket, and does nothing that can crash:
// the DNS and the plugin calls run in its worker, a fork (agent.cpp), which accepts the control
// connections from that socket itself (worker_channel.hpp): the supervisor is not in the path
// of a call.
//
// Why: a plugin call can abort (NetnsGuard aborts when it cannot switch back to our netns) or
// crash, and the DNS of every container would go with it until the next ADD. A worker that
// dies by a signal (or exits with an error) is replaced at once; the new one reads the store
// and binds the DNS listeners again, and takes the connections queued meanwhile (the socket is
// the supervisor's: its queue outlives the worker). A call it died in is not run again: its
// caller saw "run" and fails with code 11 (proto/frame.hpp). More than kMaxCrashes deaths
// within kCrashWindow and the supervisor gives up and exits: the next ADD starts a fresh agent,
// and the calls run in the plugins meanwhile.
//
// Signals: SIGTERM and SIGINT go to the worker, which finishes its call and exits, and so do
// we; SIGHUP (a sync) goes to the worker. A worker that exits by itself (idle) ends us too: we
// stop listening first, so that a plugin that comes now starts a fresh agent, and the
// connections still queued are reset (their plugins, which got no "run", run the call).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>

#include "agent/agent.hpp"
#include "agent/client/call.hpp"
#include "agent/control_server.hpp"
#include "agent/log.hpp"
#include "agent/worker_channel.hpp"
#include "lib/cni/fd.hpp"
#include "lib/store/data_dir.hpp"
#include "lib/store/paths.hpp"

namespace weir::agent {

namespace {

using Fd = UniqueFd;

// The crash-loop bound: a worker that keeps dying (at start, or on every call) is not
// restarted for ever.
constexpr int kMaxCrashes = 5;
constexpr auto kCrashWindow = std::chrono::seconds(60);
// Without a data dir watch (inotify unavailable), how often to look whether it is gone.
constexpr int kLookMs = 30'000;

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

void report_ready(int& fd, const std::string& line) {
  if (fd < 0) return;
  std::string l = line + "\n";
  (void)!::write(fd, l.data(), l.size());
  ::close(fd);
  fd = -1;
}

// Wakes the supervisor when something in its data dir is deleted, or the dir itself: a removed
// data dir (a test's, a temp one) means nobody can reach the agent any more.
Fd watch_data_dir(const std::string& socket_path) {
  Fd fd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (fd.get() < 0) return fd;
  const std::string dir = std::filesystem::path(socket_path).parent_path().string();
  if (::inotify_add_watch(fd.get(), dir.c_str(), IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
    return Fd();
  }
  return fd;
}

// Writes title over the command line (as nginx and PostgreSQL name their workers): the kernel
// shows /proc/<pid>/cmdline from that memory, up to the first NUL.
void retitle(std::span<char*> argv, const std::string& title) {
  if (argv.empty() || argv[0] == nullptr) return;
  char* const begin = argv[0];
  char* end = begin + std::strlen(begin) + 1;
  for (size_t i = 1; i < argv.size() && argv[i] == end; ++i) end += std::strlen(argv[i]) + 1;
  const size_t room = static_cast<size_t>(end - begin);
  const size_t n = std::min(title.size(), room - 1);
  std::memcpy(begin, title.data(), n);
  std::memset(begin + n, 0, room - n);
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + ::strsignal(WTERMSIG(status)) + ")";
  }
  return "exited with " + std::to_string(WEXITSTATUS(status));
}

class Supervisor {
 public:
  Supervisor(const AgentOptions& options, Fd lock, Fd start_lock, Fd sigfd)
      : options_(options),
        paths_(paths_for(options.data_dir)),
        lock_(std::move(lock)),
        start_lock_(std::move(start_lock)),
        sigfd_(std::move(sigfd)),
        ready_fd_(options.ready_fd) {}

  int run() {
    if (!start_worker(false)) {
      report_ready(ready_fd_, "weir-agent: start its worker: " + std::string(std::strerror(errno)));
      return 1;
    }
    while (!result_) {
      pollfd fds[3] = {
          {channel_.get(), POLLIN, 0}, {sigfd_.get(), POLLIN, 0}, {watch_.get(), POLLIN}};
      const int n = ::poll(fds, 3, kLookMs);
      if (n < 0 && errno == EINTR) continue;
      // No data dir watch (inotify unavailable): look now and then.
      if (n == 0 && listening() && socket_gone()) stop();
      if (n <= 0) continue;
      // The worker's messages first: what it said before it exited counts.
      if (fds[0].revents & (POLLIN | POLLHUP)) read_channel();
      if (fds[1].revents & POLLIN) on_signal();
      if (fds[2].revents & POLLIN) {
        char events[4096];
        while (::read(watch_.get(), events, sizeof(events)) > 0) {
        }
        if (socket_gone()) stop();
      }
    }
    return *result_;
  }

 private:
  bool listening() const { return control_.get() >= 0; }

  bool start_worker(bool restarted) {
    auto pair = channel::make_pair();
    if (pair.supervisor.get() < 0) return false;
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
      // The worker dies with us (a kill -9 of the pid in agent.lock ends the agent), and
      // keeps none of our descriptors but the lock: while it lives, no second agent starts.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      pair.supervisor = Fd();
      channel_ = Fd();
      control_ = Fd();
      watch_ = Fd();
      sigfd_ = Fd();
      start_lock_ = Fd();
      if (ready_fd_ >= 0) ::close(ready_fd_);
      retitle(options_.argv, "weir-agent: worker " + store::data_folder(options_.data_dir));
      ::_exit(run_worker(options_, {.channel = pair.worker.release(), .restarted = restarted}));
    }
    worker_ = pid;
    channel_ = std::move(pair.supervisor);
    fail_.reset();
    return true;
  }

  void read_channel() {
    for (;;) {
      bool closed = false;
      auto msg = channel::receive_message(channel_.get(), false, &closed);
      if (!msg) {
        if (closed) channel_ = Fd();  // the worker is exiting: its SIGCHLD follows
        return;
      }
      if (msg->starts_with(channel::kFail)) {
        fail_ = msg->substr(channel::kFail.size());
      } else if (msg->starts_with(channel::kReady)) {
        on_ready(*msg);
      }
    }
  }

  void on_ready(const std::string& line) {
    if (listening()) {
      const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - died_at_);
      log("worker (pid " + std::to_string(worker_) + ") serving again, " + std::to_string(gap.count()) +
          " ms after its predecessor died");
      lend_socket();
      return;
    }
    // Listening only now: the plugins waiting to start an agent find it serving, and the
    // first sync has read the record of the plugin that started us.
    auto control = listen_control(paths_.socket);
    if (!control) {
      log(control.error().msg);
      report_ready(ready_fd_, control.error().msg);
      stop_now(1);
      return;
    }
    control_ = std::move(*control);
    ::fcntl(control_.get(), F_SETFL, ::fcntl(control_.get(), F_GETFL) | O_NONBLOCK);
    // Ours by inode: a data dir removed and made again may hold another agent's socket.
    ::stat(paths_.socket.c_str(), &bound_);
    watch_ = watch_data_dir(paths_.socket);
    lend_socket();
    report_ready(ready_fd_, line);
    start_lock_ = Fd();  // listening: the plugins waiting to start an agent find this one
    log("serving (pid " + std::to_string(::getpid()) + "; its worker " + std::to_string(worker_) + ")");
    if (socket_gone()) stop();  // removed before the watch began
  }

  void on_signal() {
    signalfd_siginfo si{};
    if (::read(sigfd_.get(), &si, sizeof(si)) != sizeof(si)) return;
    if (si.ssi_signo == SIGCHLD) {
      reap();
    } else if (si.ssi_signo == SIGHUP) {
      if (worker_ > 0) ::kill(worker_, SIGHUP);
    } else {
      stop();
    }
  }

  // Stops taking connections and asks the worker to finish; its exit ends us.
  void stop() {
    stopping_ = true;
    if (worker_ > 0) {
      ::kill(worker_, SIGTERM);
    } else {
      stop_now(0);
    }
  }

  void reap() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid != worker_) continue;
      read_channel();  // what it said before it went
      worker_ = -1;
      channel_ = Fd();
      on_worker_exit(pid, status);
    }
  }

  void on_worker_exit(pid_t pid, int status) {
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (clean || stopping_) return stop_now(clean ? 0 : 1);
    if (fail_) {  // it cannot serve (the store cannot be opened): another one could not either
      report_ready(ready_fd_, *fail_);
      return stop_now(1);
    }
    const auto now = Clock::now();
    crashes_.push_back(now);
    while (!crashes_.empty() && now - crashes_.front() > kCrashWindow) crashes_.pop_front();
    if (crashes_.size() > static_cast<size_t>(kMaxCrashes)) {
      const std::string why = "worker " + describe(status) + ", its " + std::to_string(crashes_.size()) +
                              "th death within " + std::to_string(kCrashWindow.count()) +
                              " s: giving up (the next ADD starts a new agent)";
      log(why);
      report_ready(ready_fd_, why);
      return stop_now(1);
    }
    log("worker (pid " + std::to_string(pid) + ") " + describe(status) + ": starting another");
    died_at_ = now;
    if (!start_worker(true)) {
      log("start another worker: " + std::string(std::strerror(errno)));
      stop_now(1);
    }
  }

  // Stops listening before the lock goes (when we return): connections still queued are
  // reset, and their plugins run the call or start a new agent, which waits for our lock.
  void stop_now(int code) {
    if (listening() && socket_ours()) ::unlink(paths_.socket.c_str());
    control_ = Fd();
    if (worker_ > 0) {
      ::kill(worker_, SIGKILL);
      while (::waitpid(worker_, nullptr, 0) < 0 && errno == EINTR) {
      }
      worker_ = -1;
    }
    if (ready_fd_ >= 0) ::close(ready_fd_);
    ready_fd_ = -1;
    result_ = code;
  }

  // The listening socket to the worker that is ready, which accepts from it from now on. On
  // failure the worker is dying: its SIGCHLD follows, and the connections stay queued for the
  // next one.
  void lend_socket() { (void)channel::send_fd(channel_.get(), control_.get()); }

  bool socket_ours() const {
    struct stat st {};
    return ::stat(paths_.socket.c_str(), &st) == 0 && st.st_dev == bound_.st_dev &&
           st.st_ino == bound_.st_ino;
  }
  bool socket_gone() const {
    if (socket_ours()) return false;
    log("control socket " + paths_.socket + " is gone; exiting");
    return true;
  }

  const AgentOptions& options_;
  const Paths paths_;
  Fd lock_;
  Fd start_lock_;
  Fd sigfd_;
  int ready_fd_ = -1;
  Fd control_;  // listening, once the first worker is ready
  struct stat bound_ {};
  Fd watch_;
  Fd channel_;
  pid_t worker_ = -1;
  bool stopping_ = false;
  std::optional<std::string> fail_;
  std::deque<Clock::time_point> crashes_;
  Clock::time_point died_at_{};
  std::optional<int> result_;
};

}  // namespace

int run_agent(const AgentOptions& options) {
  // Named weir-agent whichever executable runs us (weir-cluster's, for etcd networks): what
  // ps, pgrep and killall go by. The worker inherits it.
  ::prctl(PR_SET_NAME, "weir-agent");
  // Owned from the start, so that its number is not reused before we let the lock go.
  Fd start_lock(options.start_lock_fd);
  int ready_fd = options.ready_fd;
  auto fail_start = [&](const std::string& why) {
    log(why);
    report_ready(ready_fd, why);
    return 1;
  };
  // Before the worker exists (it sets its own mask): ours arrive on the signalfd only.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &sigs, nullptr);
  Fd sigfd(::signalfd(-1, &sigs, SFD_CLOEXEC));
  if (sigfd.get() < 0) return fail_start(std::string("signalfd: ") + std::strerror(errno));

  // One agent per data dir: the lock is held for the agent's whole life. An agent that is
  // just exiting still holds it for a moment, so wait (bounded) rather than give up.
  // Nothing in a folder others can change is opened, created or served (data_dir.hpp).
  if (auto ok = store::check_data_folder(options.data_dir, !options.exit_when_idle); !ok) {
    return fail_start(ok.error().msg);
  }
  auto opened = store::open_data_file(paths_for(options.data_dir).lock, O_RDWR | O_CREAT, 0600);
  if (!opened) return fail_start(opened.error().msg);
  Fd lock = std::move(*opened);
  if (auto ok = take_lock(lock.get()); !ok) {
    return fail_start("another weir-agent holds " + paths_for(options.data_dir).lock + ": " +
                      ok.error().msg);
  }
  AgentOptions own = options;
  own.ready_fd = ready_fd;
  own.start_lock_fd = -1;
  Supervisor supervisor(own, std::move(lock), std::move(start_lock), std::move(sigfd));
  return supervisor.run();
}

}  // namespace weir::agent
