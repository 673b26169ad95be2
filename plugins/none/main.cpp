#include "plugins/none/none.hpp"

int main() {
  weir::cni::ProcessEnv env;
  return weir::cni::plugin_main(env, weir::plugins::none::verbs(), "weir-none");
}
