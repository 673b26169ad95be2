#include "ipam/local.hpp"

int main() {
  weir::cni::ProcessEnv env;
  return weir::ipam::run_local(env);
}
