#include "tests/support/process.hpp"

#include <sys/wait.h>

#include <sstream>

#include "lib/cni/exec.hpp"

extern char** environ;

namespace weir::test {

nlohmann::json Run::json() const {
  if (out.empty()) return nullptr;
  return nlohmann::json::parse(out, nullptr, false);
}

std::string bin(const std::string& name) { return std::string(WEIR_BIN_DIR) + "/" + name; }

Run run_exact(const std::string& binary, std::vector<std::string> argv, std::vector<std::string> envp,
              const std::string& input) {
  std::ostringstream err;
  auto r = cni::run_process(binary, std::move(argv), std::move(envp), input, &err);
  Run run;
  run.err = err.str();
  if (!r) {
    run.err += r.error().msg;
    return run;
  }
  run.out = std::move(r->out);
  run.exit_code = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
  return run;
}

Run run_plugin(const std::string& plugin, const std::map<std::string, std::string>& env,
               const std::string& stdin_bytes) {
  std::vector<std::string> envp = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  for (const auto& [k, v] : env) envp.push_back(k + "=" + v);
  std::string path = plugin.find('/') == std::string::npos ? bin(plugin) : plugin;
  return run_exact(path, {path}, std::move(envp), stdin_bytes);
}

Run run_cmd(const std::string& binary, const std::vector<std::string>& args,
            const std::map<std::string, std::string>& env, const std::string& input) {
  std::vector<std::string> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    if (!env.contains(entry.substr(0, entry.find('=')))) envp.push_back(std::move(entry));
  }
  for (const auto& [k, v] : env) envp.push_back(k + "=" + v);
  std::string path = binary.find('/') == std::string::npos ? bin(binary) : binary;
  std::vector<std::string> argv = {path};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_exact(path, std::move(argv), std::move(envp), input);
}

std::map<std::string, std::string> cni_env(const std::string& command, const std::string& netns,
                                           const std::string& container_id,
                                           const std::string& ifname) {
  return {{"CNI_COMMAND", command},
          {"CNI_CONTAINERID", container_id},
          {"CNI_NETNS", netns},
          {"CNI_IFNAME", ifname},
          {"CNI_PATH", WEIR_BIN_DIR}};
}

}  // namespace weir::test
