// Running another CNI plugin as the spec says: find it in CNI_PATH, exec it with the same
// environment (only the CNI_* variables of this call), write the config to its stdin, read the
// result or the error JSON from its stdout, and pass its stderr on.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/env.hpp"
#include "lib/cni/error.hpp"

namespace weir::cni {

// The plugin's full path: the first `dir/type` in `path` that is an executable file.
// A type with '/' or an empty type is code 7; not found is code 7 naming the folders searched.
Expected<std::string> find_plugin(std::string_view type, const std::vector<std::string>& path);

struct ExecRequest {
  std::string plugin;           // a type name looked up in env.path, or an absolute path
  const CallEnv* env = nullptr; // CNI_* variables for the child; env->command is the verb
  std::string stdin_bytes;
  std::ostream* stderr_sink = nullptr;  // the child's stderr is copied here (nullptr: dropped)
};

// A child process run to completion with its stdin fed and its stdout collected.
struct ProcessOutput {
  int status = 0;  // as waitpid reports it
  std::string out;
};
Expected<ProcessOutput> run_process(const std::string& binary, std::vector<std::string> argv,
                                    std::vector<std::string> envp, std::string_view input,
                                    std::ostream* stderr_sink);

// Runs the plugin and returns its stdout. A non-zero exit becomes the Error the plugin printed
// (its code, msg and details); an exit without a parsable error is code 104.
Expected<std::string> exec_plugin(const ExecRequest& req);

}  // namespace weir::cni
