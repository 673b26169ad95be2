#include "plugins/host/host.hpp"

int main() {
  weir::cni::ProcessEnv env;
  return weir::cni::plugin_main(env, weir::plugins::host::verbs(), "weir-host");
}
