// weir-macvlan: its main, run by the weir executable (multicall/main.cpp) under that name.
#include "agent/client/handoff.hpp"
#include "plugins/macvlan/macvlan.hpp"

int weir_macvlan_main(int, char**) {
  weir::cni::ProcessEnv env;
  auto verbs = weir::plugins::macvlan::verbs();
  verbs.before = [](const weir::cni::Call& c) {
    return weir::agent::run_where_the_store_is(c, "weir-macvlan");
  };
  return weir::cni::plugin_main(env, verbs, "weir-macvlan");
}
