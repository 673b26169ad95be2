#include "ipam/ipam.hpp"

int main() {
  weir::cni::ProcessEnv env;
  return weir::cni::plugin_main(env, weir::ipam::verbs(), weir::ipam::kPluginName);
}
