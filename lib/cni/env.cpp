#include "lib/cni/env.hpp"

#include <cstdlib>

#include "lib/cni/printable.hpp"

namespace weir::cni {

std::optional<std::string> ProcessEnv::get(std::string_view name) const {
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::optional<std::string> MapEnv::get(std::string_view name) const {
  auto it = vars_.find(name);
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

namespace {

constexpr std::pair<std::string_view, Command> kCommands[] = {
    {"ADD", Command::kAdd},       {"DEL", Command::kDel}, {"CHECK", Command::kCheck},
    {"STATUS", Command::kStatus}, {"GC", Command::kGc},   {"VERSION", Command::kVersion},
};

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// libcni's rule for container ids and network names: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$
bool is_identifier(std::string_view s) {
  if (s.empty() || !is_id_char(s[0]) || s[0] == '_' || s[0] == '.' || s[0] == '-') return false;
  for (char c : s) {
    if (!is_id_char(c)) return false;
  }
  return true;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

std::optional<Command> parse_command(std::string_view text) {
  for (auto [name, cmd] : kCommands) {
    if (name == text) return cmd;
  }
  return std::nullopt;
}

std::string_view command_name(Command c) {
  for (auto [name, cmd] : kCommands) {
    if (cmd == c) return name;
  }
  return "?";
}

Expected<CniArgs> parse_cni_args(std::string_view text) {
  CniArgs out;
  for (const auto& pair : split(text, ';')) {
    auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail(invalid_env("CNI_ARGS: \"" + pair + "\" is not KEY=VALUE"));
    }
    out.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
  }
  return out;
}

std::optional<std::string> find_arg(const CniArgs& args, std::string_view key) {
  for (const auto& [k, v] : args) {
    if (k == key) return v;
  }
  return std::nullopt;
}

Expected<void> validate_container_id(std::string_view id) {
  if (id.empty()) return fail(unknown_container("the container id (CNI_CONTAINERID) is empty"));
  if (!is_identifier(id)) {
    return fail(invalid_env("invalid characters in container id \"" + std::string(id) +
                            "\": use letters, digits, '_', '.' and '-', starting with a letter "
                            "or digit"));
  }
  return {};
}

Expected<void> validate_network_name(std::string_view name) {
  if (name.empty()) return fail(invalid_config("the network config has no \"name\""));
  if (!is_identifier(name)) {
    return fail(invalid_config("invalid characters in network name \"" + std::string(name) +
                               "\": use letters, digits, '_', '.' and '-', starting with a "
                               "letter or digit"));
  }
  return {};
}

Expected<void> validate_ifname(std::string_view ifname) {
  const std::string quoted = cni::quoted(ifname);
  if (ifname.empty()) return fail(invalid_env("the interface name (CNI_IFNAME) is empty"));
  // IFNAMSIZ is 16 including the terminating NUL (linux/if.h).
  if (ifname.size() > 15) {
    return fail(invalid_env("interface name " + quoted + " is longer than 15 characters"));
  }
  // The kernel refuses "." and ".." (dev_valid_name); "all" and "default" are the names of
  // every interface's sysctl folders (/proc/sys/net/ipv4/conf/all), so registering a link of
  // that name fails late, half-made.
  if (ifname == "." || ifname == ".." || ifname == "all" || ifname == "default") {
    return fail(invalid_env("interface name " + quoted + " is reserved by the kernel"));
  }
  for (char ch : ifname) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '/' || c == ':' || c <= ' ' || c == 0x7f) {
      return fail(invalid_env("interface name " + quoted +
                              " contains '/', ':', white space or a control character"));
    }
    // dev_get_valid_name expands a '%' pattern ("eth%d") to another name than the one asked.
    if (c == '%') return fail(invalid_env("interface name " + quoted + " contains '%'"));
  }
  if (cni::printable(ifname) != ifname) {
    return fail(invalid_env("interface name " + quoted + " is not valid UTF-8"));
  }
  return {};
}

Expected<void> require_args(const CallEnv& env) {
  if (env.args_error) return fail(*env.args_error);
  return {};
}

Expected<CallEnv> read_call_env(const Env& env, Command command) {
  struct Var {
    const char* name;
    bool required;
    std::string* into;
  };
  CallEnv ce;
  ce.command = command;
  const bool add_check = command == Command::kAdd || command == Command::kCheck;
  const bool per_attachment = add_check || command == Command::kDel;
  std::string path;
  const Var vars[] = {
      {"CNI_CONTAINERID", per_attachment, &ce.container_id},
      {"CNI_NETNS", add_check, &ce.netns},
      {"CNI_IFNAME", per_attachment, &ce.ifname},
      {"CNI_ARGS", false, &ce.args_raw},
      {"CNI_PATH", command != Command::kVersion, &path},
  };
  std::string missing;
  for (const auto& v : vars) {
    auto value = env.get(v.name);
    if (value) {
      *v.into = *value;
    } else if (v.required) {
      missing += (missing.empty() ? "" : ", ") + std::string(v.name);
    }
  }
  if (!missing.empty()) {
    return fail(invalid_env("missing environment variables for " +
                            std::string(command_name(command)) + ": " + missing));
  }
  if (per_attachment) {
    if (auto ok = validate_container_id(ce.container_id); !ok) return fail(ok.error());
    if (auto ok = validate_ifname(ce.ifname); !ok) return fail(ok.error());
  }
  if (add_check && ce.netns.empty()) return fail(invalid_env("CNI_NETNS is empty"));
  if (auto args = parse_cni_args(ce.args_raw)) {
    ce.args = std::move(*args);
  } else {
    ce.args_error = std::move(args.error());
  }
  ce.path = split(path, ':');
  return ce;
}

}  // namespace weir::cni
