// weirctl run NETWORK [--name N] -- CMD…: a throw-away container. Creates a netns, ADDs it to
// the network, runs CMD inside, and on exit (or Ctrl-C / SIGTERM) DELs it and removes the netns.
// The result's DNS becomes /etc/netns/<netns>/resolv.conf, which CMD sees as /etc/resolv.conf
// and so does `ip netns exec <netns> …` meanwhile.
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "lib/netns/netns.hpp"
#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

namespace {

struct RunOptions {
  AttachOptions attach;
  std::string name;
  std::vector<std::string> command;
};

volatile sig_atomic_t g_child = 0;

// The child gets the signal too when it came from the terminal; forwarding covers kill(1).
void forward_signal(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}

namespace fs = std::filesystem;

// Where `ip netns` keeps a netns's own files that `ip netns exec` puts over /etc.
std::string etc_dir_of(const std::string& ns_name) {
  return "/etc/netns/" + ns_name;
}

// resolv.conf from the result's DNS section, when it names a server.
Expected<void> write_resolv_conf(const std::string& ns_name, const cni::Dns& dns) {
  if (dns.nameservers.empty()) return {};
  std::error_code ec;
  fs::create_directories(etc_dir_of(ns_name), ec);
  if (ec) return fail(cni::sys_error(ec.value(), "create " + etc_dir_of(ns_name)));
  const std::string path = etc_dir_of(ns_name) + "/resolv.conf";
  std::ofstream out(path);
  out << "# weirctl run: the DNS of the network's CNI result\n";
  for (const auto& ns : dns.nameservers) out << "nameserver " << ns << "\n";
  if (!dns.domain.empty()) out << "domain " << dns.domain << "\n";
  if (!dns.search.empty()) {
    out << "search";
    for (const auto& s : dns.search) out << " " << s;
    out << "\n";
  }
  if (!dns.options.empty()) {
    out << "options";
    for (const auto& o : dns.options) out << " " << o;
    out << "\n";
  }
  out.close();
  if (!out) return fail(cni::sys_error(EIO, "write " + path));
  return {};
}

// In the child, after entering the netns: what `ip netns exec` does with mounts. A private
// mount namespace (changes do not propagate back to the host), /sys of this netns (so
// /sys/class/net shows its links), and each file of /etc/netns/<name> over its /etc twin.
bool enter_mounts(const std::string& ns_name) {
  if (::unshare(CLONE_NEWNS) != 0) return false;
  if (::mount("", "/", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) return false;
  // Best effort, as ip does: a /sys we cannot replace leaves the host's.
  if (::umount2("/sys", MNT_DETACH) == 0) (void)::mount(ns_name.c_str(), "/sys", "sysfs", 0, nullptr);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(etc_dir_of(ns_name), ec)) {
    const std::string target = "/etc/" + e.path().filename().string();
    // As ip does: a file with no twin in /etc (no mount point) is said, not fatal.
    if (::mount(e.path().c_str(), target.c_str(), "none", MS_BIND, nullptr) != 0) {
      std::cerr << "weirctl run: bind " << e.path().string() << " over " << target << ": "
                << std::strerror(errno) << "\n";
    }
  }
  return true;
}

// Runs cmd inside the netns and returns its exit status the way a shell reports it.
int run_inside(const std::string& ns_name, const std::string& netns_path,
               const std::vector<std::string>& cmd) {
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);

  pid_t pid = ::fork();
  if (pid == 0) {
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
    auto ns = netns::Handle::open(netns_path);
    if (!ns || ::setns(ns->fd(), CLONE_NEWNET) != 0) {
      std::cerr << "weirctl run: cannot enter netns \"" << netns_path << "\"\n";
      ::_exit(126);
    }
    if (!enter_mounts(ns_name)) {
      std::cerr << "weirctl run: cannot set up the mounts of netns \"" << ns_name
                << "\": " << std::strerror(errno) << "\n";
      ::_exit(126);
    }
    std::vector<char*> argv;
    for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::cerr << "weirctl run: cannot run \"" << cmd[0] << "\": " << std::strerror(errno) << "\n";
    ::_exit(127);
  }
  if (pid < 0) {
    std::cerr << "weirctl run: fork: " << std::strerror(errno) << "\n";
    return 1;
  }
  g_child = pid;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run(const Globals& g, RunOptions o) {
  auto net = load(g, o.attach.network);
  if (!net) return print_error(g, "run", net.error());
  const std::string ns_name = "weir-run-" + std::to_string(::getpid());
  if (auto ok = netns::create_named(ns_name); !ok) return print_error(g, "run", ok.error());
  const std::string ns_path = netns::resolve_path(ns_name);

  if (!o.name.empty()) {
    if (o.attach.container_id.empty()) o.attach.container_id = o.name;
    o.attach.args += (o.attach.args.empty() ? "" : ";") + ("K8S_POD_NAME=" + o.name);
  }
  if (o.attach.container_id.empty()) o.attach.container_id = ns_name;
  auto req = make_request(o.attach, ns_path);
  if (!req) {
    (void)netns::remove_named(ns_name);
    return print_error(g, "run", req.error());
  }
  auto rt = make_runtime(g);
  auto result = rt.add(*net, *req);
  if (!result) {
    (void)netns::remove_named(ns_name);
    return print_error(g, "run", result.error());
  }
  print_result(g, *net, *result);
  std::cout.flush();

  int status = 0;
  if (auto ok = write_resolv_conf(ns_name, result->dns); !ok) {
    status = print_error(g, "run", ok.error());
  } else {
    status = run_inside(ns_name, ns_path, o.command);
  }

  int cleanup = 0;
  std::error_code ec;
  fs::remove_all(etc_dir_of(ns_name), ec);
  if (auto ok = rt.del(*net, *req); !ok) cleanup = print_error(g, "run: DEL", ok.error());
  if (auto ok = netns::remove_named(ns_name); !ok) cleanup = print_error(g, "run: remove netns", ok.error());
  return status != 0 ? status : cleanup;
}

}  // namespace

void register_run(CLI::App& app, Globals& g, int& exit_code) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "run a command in a throw-away container on a network");
  cmd->add_option("network", o->attach.network, "network name in NETCONFPATH, or a config file")->required();
  cmd->add_option("command", o->command, "the command to run inside, after --")->required();
  cmd->add_option("--name", o->name, "container name (also sent as K8S_POD_NAME, for DNS)");
  add_attach_options(*cmd, o->attach);
  cmd->callback([&g, &exit_code, o] { exit_code = run(g, *o); });
}

}  // namespace weir::ctl
