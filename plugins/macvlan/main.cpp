// weir-macvlan: its main, run by the weir executable (multicall/main.cpp) under that name.
#include "plugins/macvlan/macvlan.hpp"

int weir_macvlan_main(int, char**) {
  weir::cni::ProcessEnv env;
  return weir::cni::plugin_main(env, weir::plugins::macvlan::verbs(), "weir-macvlan");
}
