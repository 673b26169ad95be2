#include "tests/fuzz/proto_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return weir::agent::proto::fuzz::frame(data, size);
}
