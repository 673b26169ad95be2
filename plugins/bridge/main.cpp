#include "plugins/bridge/bridge.hpp"

int main() {
  weir::cni::ProcessEnv env;
  return weir::cni::plugin_main(env, weir::plugins::bridge::verbs(), "weir-bridge");
}
