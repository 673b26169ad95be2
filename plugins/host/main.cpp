// weir-host: its main, run by the weir executable (multicall/main.cpp) under that name.
#include "plugins/host/host.hpp"

int weir_host_main(int, char**) {
  weir::cni::ProcessEnv env;
  return weir::cni::plugin_main(env, weir::plugins::host::verbs(), "weir-host");
}
