// plugin_main: everything a CNI plugin does before and after its verbs. It reads the
// environment and stdin once, validates them, negotiates the version, hands the verb a typed
// call, and prints the result or the error JSON in the caller's cniVersion.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/config.hpp"
#include "lib/cni/env.hpp"
#include "lib/cni/error_json.hpp"
#include "lib/cni/error.hpp"
#include "lib/cni/result.hpp"

namespace weir::cni {

struct Call {
  CallEnv env;
  NetConf conf;
  std::string stdin_bytes;  // as received, for delegation
  Env* process = nullptr;   // the process edges (stderr for logs)
};

struct Verbs {
  std::function<Expected<Result>(const Call&)> add;
  std::function<Expected<void>(const Call&)> del;
  std::function<Expected<void>(const Call&)> check;
  std::function<Expected<void>(const Call&)> status;
  std::function<Expected<void>(const Call&, const std::vector<Attachment>&)> gc;
  // Runs first, once the call has parsed (unset = nothing): it may run the call in another
  // program (exec, not returning), or fail it; success goes on to the verb here.
  std::function<Expected<void>(const Call&)> before;
};

// Returns the process exit code: 0 on success, 1 after printing an error.
int plugin_main(Env& env, const Verbs& verbs, std::string_view about);

// Delegates the current call to an IPAM (or any) plugin from CNI_PATH, as the spec's
// "Delegated plugin protocol" says: same environment and stdin, the command given.
Expected<Result> delegate_add(const Call& call, std::string_view plugin);
Expected<void> delegate(const Call& call, std::string_view plugin, Command command);

}  // namespace weir::cni
