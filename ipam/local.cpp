#include "ipam/local.hpp"

#include <iterator>
#include <sstream>

#include "agent/control.hpp"
#include "ipam/ipam.hpp"

namespace weir::ipam {

namespace {

// The process's environment with stdin already read (to find the data dir afterwards).
class ReadEnv final : public cni::Env {
 public:
  ReadEnv(cni::Env& base, std::string in) : base_(base), in_(std::move(in)) {}
  std::optional<std::string> get(std::string_view name) const override { return base_.get(name); }
  std::istream& in() override { return in_; }
  std::ostream& out() override { return base_.out(); }
  std::ostream& err() override { return base_.err(); }

 private:
  cni::Env& base_;
  std::istringstream in_;
};

}  // namespace

int run_local(cni::Env& env) {
  if (env.get("CNI_COMMAND") != "ADD") return cni::plugin_main(env, verbs(), kPluginName);
  std::string input(std::istreambuf_iterator<char>(env.in()), {});
  ReadEnv here(env, input);
  const int code = cni::plugin_main(here, verbs(), kPluginName);
  if (code != 0) return code;
  // It parsed, or the ADD would have failed.
  auto conf = cni::parse_netconf(input);
  if (!conf) return code;
  const std::string dir = data_dir_of(*conf);
  if (dir.starts_with('/')) agent::start_agent_in_background(dir);
  return code;
}

}  // namespace weir::ipam
