#include "plugins/macvlan/macvlan.hpp"

int main() {
  weir::cni::ProcessEnv env;
  return weir::cni::plugin_main(env, weir::plugins::macvlan::verbs(), "weir-macvlan");
}
