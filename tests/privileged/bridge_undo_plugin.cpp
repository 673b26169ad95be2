// weir-bridge for bridge_undo_test: the plugin's own verbs on a plugin process's services
// (plugins/common/services.hpp), except for two faults the test asks for in the environment —
// a test program, never a product one:
//   WEIR_TEST_FAIL_AFTER=<step>  ADD fails once that step (services.cpp step_name) is done;
//   WEIR_TEST_FAIL_SYNC=1        the embedded DNS does not take ADD's sync.
// The embedded DNS is a fake that logs each sync to stderr ("weir-test: dns sync start|stop"),
// so no weir-agent is started and the test sees what the undo told the DNS. Linked with the etcd
// store where the build has it (multicall/cluster.cpp), as weir-cluster is.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "lib/cni/env.hpp"
#include "plugins/bridge/bridge.hpp"

namespace {

using namespace weir;

class FaultyServices final : public plugins::ProcessServices {
 public:
  FaultyServices(const std::string& data_dir, const store::Backend& backend, std::string fail_after,
                 bool fail_sync)
      : ProcessServices(data_dir, backend),
        fail_after_(std::move(fail_after)),
        fail_sync_(fail_sync) {}

  Expected<void> sync_dns(bool start) override {
    std::cerr << "weir-test: dns sync " << (start ? "start" : "stop") << "\n";
    if (start && fail_sync_)
      return fail(cni::try_again_later("weir-test: the embedded DNS did not answer"));
    return {};
  }
  Expected<void> reached(plugins::AddStep step) override {
    if (plugins::step_name(step) != fail_after_) return {};
    return fail(cni::io_failure("weir-test: injected failure after step \"" + fail_after_ + "\""));
  }

 private:
  const std::string fail_after_;
  const bool fail_sync_;
};

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

int main() {
  const std::string fail_after = env_or_empty("WEIR_TEST_FAIL_AFTER");
  const bool fail_sync = env_or_empty("WEIR_TEST_FAIL_SYNC") == "1";
  cni::ProcessEnv env;
  const auto verbs = plugins::bridge::verbs(
      [&](const std::string& data_dir,
          const store::Backend& backend) -> std::unique_ptr<plugins::Services> {
        return std::make_unique<FaultyServices>(data_dir, backend, fail_after, fail_sync);
      });
  return cni::plugin_main(env, verbs, "weir-bridge");
}
