#include "lib/cni/config.hpp"

#include <optional>

#include "lib/cni/env.hpp"
#include "lib/cni/printable.hpp"
#include "lib/cni/version.hpp"

namespace weir::cni {

using nlohmann::json;

namespace {

// Deeper than any network config needs; bounds what a copy or dump of the tree recurses.
constexpr size_t kMaxDepth = 64;

// Builds the tree as nlohmann::json's own parser does (json_sax_dom_parser), and keeps the path
// of the value being read ("ipam.ranges[0][1].subnet"), so that a number no double holds
// ("mtu": 1e400) is refused as the field it is (code 7), not as undecodable input.
class PathSax {
 public:
  explicit PathSax(json& root) : dom_(root, /*allow_exceptions=*/false) {}

  bool null() { return value() && dom_.null(); }
  bool boolean(bool v) { return value() && dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return value() && dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return value() && dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return value() && dom_.number_float(v, s);
  }
  bool string(json::string_t& v) { return value() && dom_.string(v); }
  bool binary(json::binary_t& v) { return value() && dom_.binary(v); }
  bool start_object(size_t n) { return enter(false) && dom_.start_object(n); }
  bool key(json::string_t& k) {
    frames_.back().key = k;
    return dom_.key(k);
  }
  bool end_object() {
    frames_.pop_back();
    return dom_.end_object();
  }
  bool start_array(size_t n) { return enter(true) && dom_.start_array(n); }
  bool end_array() {
    frames_.pop_back();
    return dom_.end_array();
  }
  bool parse_error(size_t, const std::string& token, const nlohmann::detail::exception& ex) {
    // out_of_range.406: a number that overflows a double.
    if (ex.id == 406 && !frames_.empty()) {
      error_ = invalid_config(cni::quoted(path()) + " is out of range: " + printable(token));
    } else {
      error_ = decode_failure(printable(ex.what()));
    }
    return false;
  }

  const std::optional<Error>& error() const { return error_; }

 private:
  struct Frame {
    bool array = false;
    std::string key;
    size_t count = 0;  // values seen so far in an array
  };

  bool value() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().count;
    return true;
  }
  bool enter(bool array) {
    value();
    if (frames_.size() >= kMaxDepth) {
      error_ = decode_failure("nested deeper than " + std::to_string(kMaxDepth) + " levels at " +
                              cni::quoted(path()));
      return false;
    }
    frames_.push_back({.array = array});
    return true;
  }
  // Where the value being read is; in an array, the element after the last one seen.
  std::string path() const {
    std::string out;
    for (size_t i = 0; i < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (!f.array) {
        out += (out.empty() ? "" : ".") + f.key;
      } else {
        const size_t at = i + 1 == frames_.size() ? f.count : f.count - 1;
        out += "[" + std::to_string(at) + "]";
      }
    }
    return out;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::vector<Frame> frames_;
  std::optional<Error> error_;
};

Expected<json> parse_json(std::string_view bytes, std::string_view what) {
  json j;
  PathSax sax(j);
  const bool ok = json::sax_parse(bytes, &sax);
  if (!ok || sax.error()) {
    Error e = sax.error().value_or(decode_failure("not valid JSON"));
    if (e.code == Code::kDecodeFailure) e.context("cannot decode " + std::string(what));
    return fail(std::move(e));
  }
  if (!j.is_object()) return fail(decode_failure(std::string(what) + " must be a JSON object"));
  return j;
}

Expected<std::string> opt_string(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::string();
  if (!j[key].is_string()) return fail(invalid_config(std::string("\"") + key + "\" must be a string"));
  return j[key].get<std::string>();
}

Expected<bool> opt_bool(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return false;
  if (!j[key].is_boolean()) return fail(invalid_config(std::string("\"") + key + "\" must be true or false"));
  return j[key].get<bool>();
}

Expected<json> opt_object(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return json();
  if (!j[key].is_object()) return fail(invalid_config(std::string("\"") + key + "\" must be an object"));
  return j[key];
}

Expected<std::string> check_version(std::string version) {
  if (version.empty()) return std::string("0.1.0");
  if (!is_supported(version)) {
    return fail(incompatible_version("incompatible CNI versions: config is \"" + version +
                                     "\", weir supports " + supported_list()));
  }
  return version;
}

}  // namespace

std::string NetConf::ipam_type() const {
  if (ipam.is_object() && ipam.contains("type") && ipam["type"].is_string()) {
    return ipam["type"].get<std::string>();
  }
  return {};
}

Expected<NetConf> parse_netconf(std::string_view bytes) {
  auto j = parse_json(bytes, "network config");
  if (!j) return fail(j.error());
  NetConf c;
  c.raw = std::move(*j);
  auto version = opt_string(c.raw, "cniVersion");
  if (!version) return fail(version.error());
  auto checked = check_version(*version);
  if (!checked) return fail(checked.error());
  c.cni_version = *checked;

  auto name = opt_string(c.raw, "name");
  if (!name) return fail(name.error());
  if (auto ok = validate_network_name(*name); !ok) return fail(ok.error());
  c.name = *name;

  auto type = opt_string(c.raw, "type");
  if (!type) return fail(type.error());
  c.type = *type;

  if (auto caps = opt_object(c.raw, "capabilities"); !caps) {
    return fail(caps.error());
  } else if (caps->is_object()) {
    for (const auto& [k, v] : caps->items()) {
      if (!v.is_boolean()) return fail(invalid_config("\"capabilities." + k + "\" must be true or false"));
      c.capabilities[k] = v.get<bool>();
    }
  }
  auto ipam = opt_object(c.raw, "ipam");
  if (!ipam) return fail(ipam.error());
  c.ipam = std::move(*ipam);
  if (c.ipam.is_object() && c.ipam.contains("type") && !c.ipam["type"].is_string()) {
    return fail(invalid_config("\"ipam.type\" must be a string"));
  }
  if (c.raw.contains("dns")) {
    auto dns = dns_from_json(c.raw["dns"]);
    if (!dns) return fail(dns.error());
    c.dns = std::move(*dns);
  }
  auto rc = opt_object(c.raw, "runtimeConfig");
  if (!rc) return fail(rc.error());
  c.runtime_config = std::move(*rc);
  auto args = opt_object(c.raw, "args");
  if (!args) return fail(args.error());
  c.args = std::move(*args);
  if (c.raw.contains("prevResult") && !c.raw["prevResult"].is_null()) {
    auto prev = result_from_json(c.raw["prevResult"]);
    if (!prev) return fail(invalid_config("prevResult: " + prev.error().msg));
    c.prev_result = std::move(*prev);
  }
  return c;
}

Expected<std::vector<Attachment>> parse_valid_attachments(const NetConf& conf) {
  for (const char* key : {"cni.dev/valid-attachments", "cni.dev/attachments"}) {
    if (!conf.raw.contains(key)) continue;
    const json& list = conf.raw[key];
    if (!list.is_array()) return fail(invalid_config(std::string("\"") + key + "\" must be a list"));
    std::vector<Attachment> out;
    for (const auto& a : list) {
      if (!a.is_object() || !a.contains("containerID") || !a["containerID"].is_string() ||
          !a.contains("ifname") || !a["ifname"].is_string()) {
        return fail(invalid_config(std::string("\"") + key +
                                   "\" entries need string \"containerID\" and \"ifname\""));
      }
      out.push_back({a["containerID"].get<std::string>(), a["ifname"].get<std::string>()});
    }
    return out;
  }
  return fail(invalid_config("GC needs \"cni.dev/valid-attachments\" in the config"));
}

Expected<NetConfList> parse_conflist(std::string_view bytes) {
  auto j = parse_json(bytes, "network config list");
  if (!j) return fail(j.error());
  NetConfList l;
  l.raw = std::move(*j);
  const json& r = l.raw;
  auto name = opt_string(r, "name");
  if (!name) return fail(name.error());
  if (auto ok = validate_network_name(*name); !ok) return fail(ok.error());
  l.name = *name;

  // Spec 1.1: `cniVersions` lists every version the file is valid for; pick our highest.
  if (r.contains("cniVersions") && !r["cniVersions"].is_null()) {
    if (!r["cniVersions"].is_array()) return fail(invalid_config("\"cniVersions\" must be a list"));
    std::vector<std::string> offered;
    for (const auto& v : r["cniVersions"]) {
      if (!v.is_string()) return fail(invalid_config("\"cniVersions\" must be a list of strings"));
      offered.push_back(v.get<std::string>());
    }
    auto picked = pick_version(offered);
    if (!picked) return fail(picked.error());
    l.cni_version = *picked;
  } else {
    auto version = opt_string(r, "cniVersion");
    if (!version) return fail(version.error());
    auto checked = check_version(*version);
    if (!checked) return fail(checked.error());
    l.cni_version = *checked;
  }
  auto dc = opt_bool(r, "disableCheck");
  if (!dc) return fail(dc.error());
  l.disable_check = *dc;
  auto dg = opt_bool(r, "disableGC");
  if (!dg) return fail(dg.error());
  l.disable_gc = *dg;

  if (r.contains("plugins")) {
    if (!r["plugins"].is_array() || r["plugins"].empty()) {
      return fail(invalid_config("\"plugins\" must be a non-empty list"));
    }
    for (const auto& p : r["plugins"]) {
      if (!p.is_object() || !p.contains("type") || !p["type"].is_string() ||
          p["type"].get<std::string>().empty()) {
        return fail(invalid_config("every entry of \"plugins\" needs a \"type\""));
      }
      l.plugins.push_back(p);
    }
  } else {
    // A single plugin config: a list of one.
    if (!r.contains("type") || !r["type"].is_string()) {
      return fail(invalid_config("the network config has neither \"plugins\" nor \"type\""));
    }
    json p = r;
    p.erase("cniVersion");
    p.erase("name");
    l.plugins.push_back(std::move(p));
  }
  return l;
}

}  // namespace weir::cni
