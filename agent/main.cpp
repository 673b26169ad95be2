// weir-agent: its main, run by the weir executable (multicall/main.cpp) under that name.
#include <CLI/CLI.hpp>

#include "agent/agent.hpp"
#include "agent/client/call.hpp"

int weir_agent_main(int argc, char** argv) {
  weir::agent::AgentOptions o;
  CLI::App app{
      "weir-agent: the embedded DNS of weir's networks, and weir-ipam's and weir-bridge's ADD and "
      "DEL on a store kept open (started on demand by the plugins)"};
  app.add_option("--data-dir", o.data_dir, "the store's folder (default /var/lib/weir)");
  app.add_option("--ready-fd", o.ready_fd, "write \"ready\" here once every socket is bound");
  app.add_option("--start-lock-fd", o.start_lock_fd,
                 "agent.start.lock, held for the plugin that started us until we listen");
  app.add_option("--started-for", o.started_for,
                 "the plugin that started us in the background: weir-ipam (stay for the idle "
                 "grace) or weir-bridge (stay while the store has endpoints)")
      ->check(CLI::IsMember({std::string(weir::agent::kIpamPlugin.name),
                             std::string(weir::agent::kBridgePlugin.name)}));
  app.add_option("--resolv-conf", o.resolv_conf, "upstream resolvers for other names")
      ->capture_default_str();
  app.add_option("--dns-port", o.dns_port, "port to serve DNS on")->capture_default_str();
  bool stay = false;
  app.add_flag("--stay", stay, "keep running without DNS networks (systemd)");
  CLI11_PARSE(app, argc, argv);
  o.exit_when_idle = !stay;
  o.argv = {argv, static_cast<size_t>(argc)};
  return weir::agent::run_agent(o);
}
