// weir-none: its main, run by the weir executable (multicall/main.cpp) under that name.
#include "plugins/none/none.hpp"

int weir_none_main(int, char**) {
  weir::cni::ProcessEnv env;
  return weir::cni::plugin_main(env, weir::plugins::none::verbs(), "weir-none");
}
