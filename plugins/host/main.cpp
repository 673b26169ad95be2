// weir-host: its main, run by the weir executable (multicall/main.cpp) under that name.
#include "agent/client/handoff.hpp"
#include "plugins/host/host.hpp"

int weir_host_main(int, char**) {
  weir::cni::ProcessEnv env;
  auto verbs = weir::plugins::host::verbs();
  verbs.before = [](const weir::cni::Call& c) {
    return weir::agent::run_where_the_store_is(c, "weir-host");
  };
  return weir::cni::plugin_main(env, verbs, "weir-host");
}
