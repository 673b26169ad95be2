// weirctl run NETWORK [--name N] -- CMD…: a throw-away container. Creates a netns, ADDs it to
// the network, runs CMD inside, and on exit (or Ctrl-C / SIGTERM) DELs it and removes the netns.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
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

// Runs cmd inside the netns and returns its exit status the way a shell reports it.
int run_inside(const std::string& netns_path, const std::vector<std::string>& cmd) {
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

  int status = run_inside(ns_path, o.command);

  int cleanup = 0;
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
