// cni-time: times CNI plugin execs the way a runtime makes them (fork/exec, CNI_* env, config
// on stdin, result on stdout), for several plugin setups side by side. Each setup has its own
// private "host" netns, entered with setns() before its exec so that the plugin starts there;
// container netns are made (untimed) with `ip netns add`. Calls are interleaved setup by setup,
// so machine noise hits every setup alike.
//
//   cni-time --out DIR --count N [--scale M] [--burst B]
//            --setup NAME HOST_NETNS_PATH PLUGIN CONF CNI_PATH [--setup ...]
//
// Phases: N ADDs per setup (one new container netns each), then N DELs (in reverse; each netns
// removed after); round i starts with setup i mod (number of setups). With --scale M, the first setup alone then gets M containers on one bridge
// (ADD only, then DEL untimed). With --burst B, each setup in turn then gets B ADDs at once, as
// a runtime starting many containers makes them: after one untimed ADD (weir's starts its
// agent), B plugins are spawned together, and the phase's one number is the time from the
// first spawn to the last reap (DELs untimed). Every latency goes to DIR/<setup>.<phase>.txt,
// one per line, in microseconds; a failed call aborts with the plugin's output.
//
// weir-bridge's DEL returns before the kernel has unregistered the veth (plugins/common/
// link_reaper.hpp). For a setup whose config names a dataDir with a reaper.lock in it, phase
// "delgone" is DEL plus the wait until that lock is free: the time until the veth is gone.
// A setup without one (the reference plugins delete synchronously) records DEL there too.
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Setup {
  std::string name, host_ns, plugin, conf, cni_path;
  int ns_fd = -1;
  std::vector<long> add_us, del_us, delgone_us;
  std::string data_dir{};  // the config's dataDir, "" when it names none
};

// The first "dataDir" string of a config, "" if none (configs here are written by run.sh).
std::string data_dir_of(const std::string& conf) {
  const std::string key = "\"dataDir\":\"";
  const size_t at = conf.find(key);
  if (at == std::string::npos) return {};
  const size_t from = at + key.size();
  const size_t to = conf.find('"', from);
  return to == std::string::npos ? std::string() : conf.substr(from, to - from);
}

// Microseconds until every background delete of the setup has finished.
long wait_reapers(const Setup& s) {
  if (s.data_dir.empty()) return 0;
  const auto t0 = std::chrono::steady_clock::now();
  const int fd = ::open((s.data_dir + "/reaper.lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  ::close(fd);
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
}

// A weir setup's first ADD starts weir-agent in the background: wait (at most a second) until
// it listens, so that the burst measures the agent, not the start. Other setups have none.
void wait_for_agent(const Setup& s) {
  if (s.data_dir.empty()) return;
  const std::string socket = s.data_dir + "/agent.sock";
  for (int i = 0; i < 100 && ::access(socket.c_str(), F_OK) != 0; ++i) ::usleep(10'000);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "cni-time: " << msg << std::endl;
  std::exit(1);
}

void run_or_die(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) die("failed: " + cmd);
}

// A plugin spawned and given its config; finish() collects it.
struct Running {
  pid_t pid = -1;
  int out_fd = -1;
  std::string command, id;
};

Running spawn_call(Setup& s, const std::string& command, const std::string& id,
                   const std::string& netns, const std::string& conf) {
  if (::setns(s.ns_fd, CLONE_NEWNET) != 0) die("setns " + s.host_ns + ": " + std::strerror(errno));
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) die("pipe");
  std::vector<std::string> env = {"CNI_COMMAND=" + command, "CNI_CONTAINERID=" + id,
                                  "CNI_NETNS=" + netns,     "CNI_IFNAME=eth0",
                                  "CNI_PATH=" + s.cni_path, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = s.plugin;
  char* argv[] = {arg0.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);

  Running r{.command = command, .id = id};
  if (int rc = posix_spawn(&r.pid, s.plugin.c_str(), &fa, nullptr, argv, envp.data()); rc != 0) {
    die("spawn " + s.plugin + ": " + std::strerror(rc));
  }
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  // Configs are small: one write never blocks on a pipe buffer.
  if (::write(in[1], conf.data(), conf.size()) != static_cast<ssize_t>(conf.size())) die("write stdin");
  ::close(in[1]);
  r.out_fd = out[0];
  return r;
}

// Reads the plugin's output to EOF and reaps it (outputs are small: no pipe fills up meanwhile).
void finish(const Setup& s, const Running& r) {
  std::string output;
  char buf[4096];
  for (ssize_t n; (n = ::read(r.out_fd, buf, sizeof buf)) > 0;) output.append(buf, n);
  ::close(r.out_fd);
  int status = 0;
  ::waitpid(r.pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    die(s.name + " " + r.command + " " + r.id + " failed: " + output);
  }
}

long since_us(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
}

// Runs the plugin with stdin = conf; returns wall-clock microseconds from spawn to reap.
long call(Setup& s, const std::string& command, const std::string& id, const std::string& netns,
          const std::string& conf) {
  const auto t0 = std::chrono::steady_clock::now();
  finish(s, spawn_call(s, command, id, netns, conf));
  return since_us(t0);
}

void save(const std::string& path, const std::vector<long>& v) {
  std::ofstream out(path);
  for (long x : v) out << x << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir;
  int count = 200, scale = 0, burst = 0;
  std::vector<Setup> setups;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (a == "--count" && i + 1 < argc) {
      count = std::atoi(argv[++i]);
    } else if (a == "--scale" && i + 1 < argc) {
      scale = std::atoi(argv[++i]);
    } else if (a == "--burst" && i + 1 < argc) {
      burst = std::atoi(argv[++i]);
    } else if (a == "--setup" && i + 5 < argc) {
      Setup s{argv[i + 1], argv[i + 2], argv[i + 3], read_file(argv[i + 4]), argv[i + 5]};
      s.data_dir = data_dir_of(s.conf);
      i += 5;
      setups.push_back(std::move(s));
    } else {
      die("bad argument " + a);
    }
  }
  if (setups.empty() || out_dir.empty()) die("usage: see the comment at the top of cni_time.cpp");
  const int self = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  for (auto& s : setups) {
    s.ns_fd = ::open(s.host_ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (s.ns_fd < 0) die("open " + s.host_ns);
  }
  const std::string pid = std::to_string(::getpid());
  auto ctr = [&](size_t setup, int i) { return "wb-" + pid + "-" + std::to_string(setup) + "-" + std::to_string(i); };
  auto back_home = [&] { (void)::setns(self, CLONE_NEWNET); };

  // Container i of every setup, starting with setup i mod n: each setup comes first (right after
  // another's, the slowest, run) as often as the others, and none always follows the same one.
  const size_t n = setups.size();
  for (int i = 0; i < count; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const size_t k = (i + j) % n;
      back_home();
      run_or_die("ip netns add " + ctr(k, i));
      setups[k].add_us.push_back(call(setups[k], "ADD", ctr(k, i), "/var/run/netns/" + ctr(k, i), setups[k].conf));
    }
    if (i % 50 == 49) std::cerr << "  " << (i + 1) << " ADDs each\n";
  }
  for (int i = count - 1; i >= 0; --i) {
    for (size_t j = 0; j < n; ++j) {
      const size_t k = (i + j) % n;
      const long del = call(setups[k], "DEL", ctr(k, i), "/var/run/netns/" + ctr(k, i), setups[k].conf);
      setups[k].del_us.push_back(del);
      setups[k].delgone_us.push_back(del + wait_reapers(setups[k]));
      back_home();
      run_or_die("ip netns del " + ctr(k, i));
    }
  }
  for (auto& s : setups) {
    save(out_dir + "/" + s.name + ".add.txt", s.add_us);
    save(out_dir + "/" + s.name + ".del.txt", s.del_us);
    save(out_dir + "/" + s.name + ".delgone.txt", s.delgone_us);
  }

  if (scale > 0) {
    Setup& s = setups[0];
    std::vector<long> us;
    for (int i = 0; i < scale; ++i) {
      back_home();
      run_or_die("ip netns add " + ctr(99, i));
      us.push_back(call(s, "ADD", ctr(99, i), "/var/run/netns/" + ctr(99, i), s.conf));
      if (i % 250 == 249) std::cerr << "  " << (i + 1) << " containers on one bridge\n";
    }
    save(out_dir + "/" + s.name + ".scale.txt", us);
    for (int i = scale - 1; i >= 0; --i) {
      (void)call(s, "DEL", ctr(99, i), "/var/run/netns/" + ctr(99, i), s.conf);
      back_home();
      run_or_die("ip netns del " + ctr(99, i));
    }
    (void)wait_reapers(s);  // the next phase starts on a quiet kernel, for every setup alike
  }

  for (size_t k = 0; burst > 0 && k < setups.size(); ++k) {
    Setup& s = setups[k];
    const size_t tag = 100 + k;
    for (int i = 0; i <= burst; ++i) {
      back_home();
      run_or_die("ip netns add " + ctr(tag, i));
    }
    (void)call(s, "ADD", ctr(tag, 0), "/var/run/netns/" + ctr(tag, 0), s.conf);
    wait_for_agent(s);
    ::usleep(500'000);  // the kernel's own work of that ADD (and of earlier phases) settles
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Running> running;
    for (int i = 1; i <= burst; ++i) {
      running.push_back(spawn_call(s, "ADD", ctr(tag, i), "/var/run/netns/" + ctr(tag, i), s.conf));
    }
    for (const auto& r : running) finish(s, r);
    save(out_dir + "/" + s.name + ".burst.txt", {since_us(t0)});
    for (int i = burst; i >= 0; --i) {
      (void)call(s, "DEL", ctr(tag, i), "/var/run/netns/" + ctr(tag, i), s.conf);
      back_home();
      run_or_die("ip netns del " + ctr(tag, i));
    }
    (void)wait_reapers(s);
  }
  return 0;
}
