#include "lib/cni/plugin.hpp"

#include <exception>
#include <iterator>

#include "lib/cni/exec.hpp"
#include "lib/cni/version.hpp"

namespace weir::cni {

using nlohmann::json;

namespace {

Expected<json> dispatch(const Call& call, const Verbs& verbs) {
  const std::string& version = call.conf.cni_version;
  const std::string_view verb = command_name(call.env.command);
  auto gate = [&](std::string_view minimum) -> Expected<void> {
    if (at_least(version, minimum)) return {};
    return fail(incompatible_version("config version \"" + version + "\" does not allow " +
                                     std::string(verb) + " (needs " + std::string(minimum) +
                                     " or later)"));
  };
  auto missing = [&]() {
    return fail(make_error(Code::kUnsupportedField,
                           std::string(verb) + " is not implemented by this plugin"));
  };
  auto none = [](Expected<void> r) -> Expected<json> {
    if (!r) return fail(r.error());
    return json();
  };
  switch (call.env.command) {
    case Command::kAdd: {
      if (!verbs.add) return missing();
      auto r = verbs.add(call);
      if (!r) return fail(r.error());
      return result_to_json(*r, version);
    }
    case Command::kDel:
      if (!verbs.del) return json();  // nothing was made, so nothing to remove
      return none(verbs.del(call));
    case Command::kCheck:
      if (auto ok = gate("0.4.0"); !ok) return fail(ok.error());
      if (!verbs.check) return missing();
      return none(verbs.check(call));
    case Command::kStatus:
      if (auto ok = gate("1.1.0"); !ok) return fail(ok.error());
      if (!verbs.status) return json();
      return none(verbs.status(call));
    case Command::kGc: {
      if (auto ok = gate("1.1.0"); !ok) return fail(ok.error());
      auto valid = parse_valid_attachments(call.conf);
      if (!valid) return fail(valid.error());
      if (!verbs.gc) return json();
      return none(verbs.gc(call, *valid));
    }
    case Command::kVersion:
      break;
  }
  return fail(internal("unreachable command"));
}

json version_json() {
  json versions = json::array();
  for (auto v : kSupportedVersions) versions.push_back(v);
  return {{"cniVersion", kCurrentVersion}, {"supportedVersions", versions}};
}

int run(Env& env, const Verbs& verbs, std::string& error_version) {
  auto print_error = [&](const Error& e) {
    env.out() << error_to_json(e, error_version).dump() << std::endl;
    return 1;
  };
  auto command_text = env.get("CNI_COMMAND");
  if (!command_text) {
    return print_error(invalid_env("CNI_COMMAND is not set (ADD, DEL, CHECK, STATUS, GC or VERSION)"));
  }
  auto command = parse_command(*command_text);
  if (!command) {
    return print_error(invalid_env("unknown CNI_COMMAND \"" + *command_text +
                                   "\": use ADD, DEL, CHECK, STATUS, GC or VERSION"));
  }
  std::string input(std::istreambuf_iterator<char>(env.in()), {});
  if (*command == Command::kVersion) {
    env.out() << version_json().dump() << std::endl;
    return 0;
  }
  // Until the config has parsed, an error speaks its cniVersion as best we can tell.
  auto call_env = read_call_env(env, *command);
  auto conf = call_env ? parse_netconf(input) : Expected<NetConf>();
  if (!call_env || !conf) {
    error_version = version_for_errors(input);
    return print_error(!call_env ? call_env.error() : conf.error());
  }
  if (is_supported(conf->cni_version)) error_version = conf->cni_version;

  Call call{std::move(*call_env), std::move(*conf), std::move(input), &env};
  if (verbs.before) {
    if (auto ok = verbs.before(call); !ok) return print_error(ok.error());
  }
  auto out = dispatch(call, verbs);
  if (!out) return print_error(out.error());
  // Strings of a result are UTF-8 but for what the runtime passed in bytes (CNI_NETNS as the
  // sandbox): replaced rather than thrown on.
  if (!out->is_null()) {
    env.out() << out->dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
  }
  return 0;
}

}  // namespace

int plugin_main(Env& env, const Verbs& verbs, std::string_view about) {
  std::string version(kCurrentVersion);
  try {
    return run(env, verbs, version);
  } catch (const std::exception& ex) {
    // Nothing below the edge throws by design; a stray exception is still reported as JSON.
    env.out() << error_to_json(internal(std::string(about) + ": " + ex.what()), version).dump()
              << std::endl;
    return 1;
  }
}

Expected<Result> delegate_add(const Call& call, std::string_view plugin) {
  CallEnv env = call.env;
  env.command = Command::kAdd;
  auto out = exec_plugin({.plugin = std::string(plugin),
                          .env = &env,
                          .stdin_bytes = call.stdin_bytes,
                          .stderr_sink = &call.process->err()});
  if (!out) return fail(out.error());
  auto j = json::parse(*out, nullptr, false);
  if (j.is_discarded()) {
    return fail(decode_failure("plugin \"" + std::string(plugin) + "\" printed a result that is not JSON"));
  }
  auto r = result_from_json(j);
  if (!r) return fail(r.error().context("result of \"" + std::string(plugin) + "\""));
  return r;
}

Expected<void> delegate(const Call& call, std::string_view plugin, Command command) {
  CallEnv env = call.env;
  env.command = command;
  auto out = exec_plugin({.plugin = std::string(plugin),
                          .env = &env,
                          .stdin_bytes = call.stdin_bytes,
                          .stderr_sink = &call.process->err()});
  if (!out) return fail(out.error());
  return {};
}

}  // namespace weir::cni
