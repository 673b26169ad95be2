#include "ipam/front.hpp"

int main() {
  return weir::ipam::front_main();
}
