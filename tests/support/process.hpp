// Running the real binaries from tests: a plugin with CNI_* variables and a config on stdin,
// or weirctl with arguments.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace weir::test {

struct Run {
  int exit_code = -1;
  std::string out;
  std::string err;
  nlohmann::json json() const;  // stdout parsed (null when empty, discarded when not JSON)
};

std::string bin(const std::string& name);  // path of a built binary

// Runs a plugin with exactly these variables (plus PATH) and this stdin.
Run run_plugin(const std::string& plugin, const std::map<std::string, std::string>& env,
               const std::string& stdin_bytes);

// Runs a binary with exactly this argv (argv[0] included) and environment, and this stdin.
Run run_exact(const std::string& binary, std::vector<std::string> argv, std::vector<std::string> envp,
              const std::string& input);

// Runs a binary with arguments; `env` is added to the test's own environment.
Run run_cmd(const std::string& binary, const std::vector<std::string>& args,
            const std::map<std::string, std::string>& env = {}, const std::string& input = {});

// The standard CNI variables for a call on a netns path.
std::map<std::string, std::string> cni_env(const std::string& command, const std::string& netns,
                                           const std::string& container_id = "ctr1",
                                           const std::string& ifname = "eth0");

}  // namespace weir::test
