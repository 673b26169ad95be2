// The process edges of a plugin: environment, stdin, stdout, stderr. Injected so that tests
// run plugin_main with maps and string streams, in parallel, without touching the process.
#pragma once

#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"

namespace weir::cni {

class Env {
 public:
  virtual ~Env() = default;
  virtual std::optional<std::string> get(std::string_view name) const = 0;
  virtual std::istream& in() = 0;
  virtual std::ostream& out() = 0;
  virtual std::ostream& err() = 0;
};

// The real process: getenv and the standard streams.
class ProcessEnv final : public Env {
 public:
  std::optional<std::string> get(std::string_view name) const override;
  std::istream& in() override { return std::cin; }
  std::ostream& out() override { return std::cout; }
  std::ostream& err() override { return std::cerr; }
};

// For tests: variables from a map, stdin from a string, outputs captured.
class MapEnv final : public Env {
 public:
  MapEnv(std::map<std::string, std::string, std::less<>> vars, std::string stdin_bytes)
      : vars_(std::move(vars)), in_(std::move(stdin_bytes)) {}
  std::optional<std::string> get(std::string_view name) const override;
  std::istream& in() override { return in_; }
  std::ostream& out() override { return out_; }
  std::ostream& err() override { return err_; }
  std::string out_str() const { return out_.str(); }
  std::string err_str() const { return err_.str(); }

 private:
  std::map<std::string, std::string, std::less<>> vars_;
  std::istringstream in_;
  std::ostringstream out_;
  std::ostringstream err_;
};

enum class Command { kAdd, kDel, kCheck, kStatus, kGc, kVersion };

std::optional<Command> parse_command(std::string_view text);
std::string_view command_name(Command c);

// CNI_ARGS "K=V;K=V" as an ordered list of pairs (unknown keys are the plugin's to ignore).
using CniArgs = std::vector<std::pair<std::string, std::string>>;
Expected<CniArgs> parse_cni_args(std::string_view text);
std::optional<std::string> find_arg(const CniArgs& args, std::string_view key);

// The validated CNI_* environment of one call.
struct CallEnv {
  Command command = Command::kVersion;
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string args_raw;
  // CNI_ARGS as pairs. Not K=V;… (some runtimes send "none") is no error by itself: the
  // reference plugins that read no argument accept anything there, so only a plugin that reads
  // one refuses it (require_args).
  CniArgs args;
  std::optional<Error> args_error;
  std::vector<std::string> path;  // CNI_PATH split on ':'
};

// Fails with CNI_ARGS's parse error (code 4), for the plugins that read an argument.
Expected<void> require_args(const CallEnv& env);

// Reads and validates the CNI_* variables that `command` needs (SPEC "Parameters"):
// missing ones are named (code 4); an empty container id is code 3.
Expected<CallEnv> read_call_env(const Env& env, Command command);

// Identifier rules shared with libcni's validators.
Expected<void> validate_container_id(std::string_view id);
Expected<void> validate_network_name(std::string_view name);
Expected<void> validate_ifname(std::string_view ifname);

}  // namespace weir::cni
