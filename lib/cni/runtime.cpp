#include "lib/cni/runtime.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lib/cni/exec.hpp"
#include "lib/cni/version.hpp"

namespace weir::cni {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

Expected<std::string> read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return fail(sys_error(errno, "read \"" + p.string() + "\"", Code::kIoFailure));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool is_conf_file(const fs::path& p) {
  auto ext = p.extension();
  return ext == ".conf" || ext == ".conflist" || ext == ".json";
}

// libcni keeps the config base64-encoded in its cache files; we write the same format.
std::string base64(std::string_view in) {
  static constexpr char kTable[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kTable[(v >> s) & 63];
  }
  if (size_t rest = in.size() - i; rest > 0) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (rest == 2) v |= uint8_t(in[i + 1]) << 8;
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += rest == 2 ? kTable[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

json cni_args_json(std::string_view args) {
  json out = json::array();
  if (auto parsed = parse_cni_args(args)) {
    for (const auto& [k, v] : *parsed) out.push_back({k, v});
  }
  return out;
}

}  // namespace

Expected<NetConfList> load_network(std::string_view name_or_path,
                                   const std::vector<std::string>& dirs) {
  std::error_code ec;
  if (name_or_path.find('/') != std::string_view::npos ||
      fs::is_regular_file(fs::path(name_or_path), ec)) {
    auto bytes = read_file(fs::path(name_or_path));
    if (!bytes) return fail(bytes.error());
    auto l = parse_conflist(*bytes);
    if (!l) return fail(l.error().context(cni::quoted(name_or_path)));
    return l;
  }
  for (const auto& dir : dirs) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.is_regular_file() && is_conf_file(entry.path())) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto bytes = read_file(f);
      if (!bytes) continue;
      // Cheap pre-check before parsing every file fully.
      auto j = json::parse(*bytes, nullptr, false);
      if (!j.is_object() || j.value("name", std::string()) != name_or_path) continue;
      auto l = parse_conflist(*bytes);
      if (!l) return fail(l.error().context(cni::quoted(f.string())));
      return l;
    }
  }
  std::string where;
  for (const auto& d : dirs) where += (where.empty() ? "" : ":") + d;
  return fail(invalid_config("no network named \"" + std::string(name_or_path) + "\" in \"" +
                             where + "\" (set NETCONFPATH, or give a file path)"));
}

Expected<std::string> Runtime::invoke(const NetConfList& net, const json& plugin, Command command,
                                      const AttachmentRequest& att, const json& extra) const {
  json conf = plugin;
  conf["name"] = net.name;
  conf["cniVersion"] = net.cni_version;
  for (const auto& [k, v] : extra.items()) conf[k] = v;
  // Capabilities the plugin declares, filled from what the caller provides (SPEC "Deriving
  // runtimeConfig").
  if (plugin.contains("capabilities") && plugin["capabilities"].is_object()) {
    for (const auto& [cap, on] : plugin["capabilities"].items()) {
      if (on.is_boolean() && on.get<bool>() && att.capability_args.contains(cap)) {
        conf["runtimeConfig"][cap] = att.capability_args[cap];
      }
    }
  }
  CallEnv env{.command = command,
              .container_id = att.container_id,
              .netns = att.netns,
              .ifname = att.ifname,
              .args_raw = att.args,
              .path = opts_.plugin_path};
  auto out = exec_plugin({.plugin = plugin["type"].get<std::string>(),
                          .env = &env,
                          .stdin_bytes = conf.dump(),
                          .stderr_sink = opts_.stderr_sink});
  if (!out) {
    return fail(std::move(out.error()).context(plugin["type"].get<std::string>() + " " +
                                               std::string(command_name(command))));
  }
  return out;
}

std::string Runtime::cache_path(const NetConfList& net, const AttachmentRequest& att) const {
  return opts_.cache_dir + "/results/" + net.name + "-" + att.container_id + "-" + att.ifname;
}

std::optional<Result> Runtime::cached_result(const NetConfList& net,
                                             const AttachmentRequest& att) const {
  auto bytes = read_file(cache_path(net, att));
  if (!bytes) return std::nullopt;
  auto j = json::parse(*bytes, nullptr, false);
  if (!j.is_object() || !j.contains("result")) return std::nullopt;
  auto r = result_from_json(j["result"]);
  if (!r) return std::nullopt;
  return *r;
}

Expected<Result> Runtime::add(const NetConfList& net, const AttachmentRequest& att) const {
  json prev;
  for (const auto& plugin : net.plugins) {
    json extra = json::object();
    if (!prev.is_null()) extra["prevResult"] = prev;
    auto out = invoke(net, plugin, Command::kAdd, att, extra);
    if (!out) return fail(out.error());
    prev = json::parse(*out, nullptr, false);
    if (prev.is_discarded()) {
      return fail(decode_failure(plugin["type"].get<std::string>() + " ADD printed no JSON result"));
    }
  }
  auto result = result_from_json(prev);
  if (!result) return fail(result.error());

  std::error_code ec;
  fs::create_directories(opts_.cache_dir + "/results", ec);
  json cache = {{"kind", "cniCacheV1"},
                {"containerId", att.container_id},
                {"config", base64(net.raw.dump())},
                {"ifName", att.ifname},
                {"networkName", net.name},
                {"netns", att.netns},
                {"cniArgs", cni_args_json(att.args)},
                {"capabilityArgs", att.capability_args},
                {"result", result_to_json(*result, net.cni_version)}};
  std::ofstream(cache_path(net, att)) << cache.dump();
  return result;
}

Expected<void> Runtime::del(const NetConfList& net, const AttachmentRequest& att) const {
  json extra = json::object();
  // libcni passes the cached result to DEL from 0.4.0 on.
  if (at_least(net.cni_version, "0.4.0")) {
    if (auto cached = cached_result(net, att)) {
      extra["prevResult"] = result_to_json(*cached, net.cni_version);
    }
  }
  for (auto it = net.plugins.rbegin(); it != net.plugins.rend(); ++it) {
    auto out = invoke(net, *it, Command::kDel, att, extra);
    if (!out) return fail(out.error());
  }
  std::error_code ec;
  fs::remove(cache_path(net, att), ec);
  return {};
}

Expected<void> Runtime::check(const NetConfList& net, const AttachmentRequest& att) const {
  if (!at_least(net.cni_version, "0.4.0")) {
    return fail(incompatible_version("config version \"" + net.cni_version +
                                     "\" does not allow CHECK (needs 0.4.0 or later)"));
  }
  if (net.disable_check) return {};
  auto cached = cached_result(net, att);
  if (!cached) {
    return fail(make_error(Code::kCheckFailed, "no cached result for " + att.container_id + "/" +
                                                   att.ifname + " on network \"" + net.name +
                                                   "\": was it added?"));
  }
  json extra = {{"prevResult", result_to_json(*cached, net.cni_version)}};
  for (const auto& plugin : net.plugins) {
    auto out = invoke(net, plugin, Command::kCheck, att, extra);
    if (!out) return fail(out.error());
  }
  return {};
}

std::vector<Runtime::Cached> Runtime::cached(const NetConfList& net) const {
  std::vector<Cached> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(opts_.cache_dir + "/results", ec)) {
    auto bytes = read_file(entry.path());
    if (!bytes) continue;
    auto j = json::parse(*bytes, nullptr, false);
    if (!j.is_object() || j.value("networkName", std::string()) != net.name) continue;
    Cached c;
    c.request.container_id = j.value("containerId", std::string());
    c.request.ifname = j.value("ifName", std::string());
    c.request.netns = j.value("netns", std::string());
    if (j.contains("capabilityArgs") && j["capabilityArgs"].is_object()) {
      c.request.capability_args = j["capabilityArgs"];
    }
    if (j.contains("cniArgs") && j["cniArgs"].is_array()) {
      for (const auto& kv : j["cniArgs"]) {
        if (kv.is_array() && kv.size() == 2 && kv[0].is_string() && kv[1].is_string()) {
          c.request.args += (c.request.args.empty() ? "" : ";") + kv[0].get<std::string>() + "=" +
                            kv[1].get<std::string>();
        }
      }
    }
    if (j.contains("result")) {
      if (auto r = result_from_json(j["result"])) c.result = std::move(*r);
    }
    out.push_back(std::move(c));
  }
  return out;
}

Expected<void> Runtime::gc(const NetConfList& net, const std::vector<Attachment>& valid) const {
  if (!at_least(net.cni_version, "1.1.0")) {
    return fail(incompatible_version("config version \"" + net.cni_version +
                                     "\" does not allow GC (needs 1.1.0 or later)"));
  }
  for (const auto& c : cached(net)) {
    Attachment a{c.request.container_id, c.request.ifname};
    if (std::find(valid.begin(), valid.end(), a) != valid.end()) continue;
    if (auto ok = del(net, c.request); !ok) return ok;
  }
  if (net.disable_gc) return {};
  json list = json::array();
  for (const auto& a : valid) list.push_back({{"containerID", a.container_id}, {"ifname", a.ifname}});
  json extra = {{"cni.dev/valid-attachments", list}, {"cni.dev/attachments", list}};
  for (const auto& plugin : net.plugins) {
    auto out = invoke(net, plugin, Command::kGc, {}, extra);
    if (!out) return fail(out.error());
  }
  return {};
}

Expected<void> Runtime::status(const NetConfList& net) const {
  if (!at_least(net.cni_version, "1.1.0")) {
    return fail(incompatible_version("config version \"" + net.cni_version +
                                     "\" does not allow STATUS (needs 1.1.0 or later)"));
  }
  for (const auto& plugin : net.plugins) {
    auto out = invoke(net, plugin, Command::kStatus, {}, json::object());
    if (!out) return fail(out.error());
  }
  return {};
}

}  // namespace weir::cni
