// weirctl status NETWORK: CNI STATUS on every plugin of the network, and whether a weir-agent
// serves its data dir (pid, the DNS it answers for the network, its log).
#include <iostream>

#include "plugins/common/endpoints.hpp"
#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

using nlohmann::json;

namespace {

// The network's endpoint records; none when the store does not exist yet or cannot be read
// (the plugins' STATUS then says why).
Expected<std::vector<store::Endpoint>> endpoints_of(const Globals& g, const store::Backend& b,
                                                    const std::string& data_dir,
                                                    const std::string& network) {
  if (auto here = where_the_store_is(g, b); !here) return fail(here.error());
  auto db = open_records(g, b, data_dir);
  if (!db) return std::vector<store::Endpoint>{};
  return plugins::list_endpoints(**db, network);
}

int status(const Globals& g, const std::string& network) {
  auto net = load(g, network);
  if (!net) return print_error(g, "status", net.error());
  auto backend = backend_of(g, *net);
  if (!backend) return print_error(g, "status", backend.error());
  const std::string dir = data_dir_of(*net).value_or(std::string(store::kDefaultDataDir));
  auto eps = endpoints_of(g, *backend, dir, net->name);
  if (!eps) return print_error(g, "status", eps.error());
  const AgentView agent = agent_view(dir, net->name, *eps);

  auto ok = make_runtime(g).status(*net);
  if (g.json) {
    if (!ok) return print_error(g, "status", ok.error());
    std::cout << json{{"network", net->name}, {"ready", true}, {"agent", agent_json(agent)}}.dump(2)
              << "\n";
    return 0;
  }
  if (ok) std::cout << "ok: network \"" << net->name << "\" is ready\n";
  std::cout << "  " << agent_text(agent) << "\n";
  std::cout << "  " << dns_text(agent) << "\n";
  return ok ? 0 : print_error(g, "status", ok.error());
}

}  // namespace

void register_status(CLI::App& app, Globals& g, int& exit_code) {
  auto net = std::make_shared<std::string>();
  auto* st = app.add_subcommand(
      "status", "ask every plugin whether it can take ADDs (CNI STATUS); the agent serving it");
  st->add_option("network", *net, "network name or config file")->required();
  st->add_option("netns", "ignored; accepted so every verb takes the same arguments");
  st->callback([&g, &exit_code, net] { exit_code = status(g, *net); });
}

}  // namespace weir::ctl
