// Network configuration as runtimes send it: one plugin's config on stdin, or a conflist in a
// conf dir. Parsed once at the edge into typed structs; unknown keys stay in `raw`, untouched.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/cni/error.hpp"
#include "lib/cni/result.hpp"

namespace weir::cni {

// The keys every plugin config has (SPEC "Plugin configuration objects").
struct NetConf {
  std::string cni_version;
  std::string name;
  std::string type;
  std::map<std::string, bool> capabilities;
  nlohmann::json ipam;            // null when absent
  Dns dns;
  nlohmann::json runtime_config;  // null when absent
  nlohmann::json args;            // null when absent
  std::optional<Result> prev_result;
  nlohmann::json raw;             // the whole object as received

  std::string ipam_type() const;  // "" when there is no ipam section
};

// An attachment named by GC's cni.dev/valid-attachments.
struct Attachment {
  std::string container_id;
  std::string ifname;
  friend auto operator<=>(const Attachment&, const Attachment&) = default;
};

// Parses a plugin's stdin. Bad JSON is code 6; wrong types, a missing or invalid name are 7;
// an unsupported cniVersion is 1. A missing cniVersion means 0.1.0, as in libcni.
Expected<NetConf> parse_netconf(std::string_view bytes);

// GC's valid attachments: `cni.dev/valid-attachments`, or `cni.dev/attachments` (libcni sends
// both). Fails with 7 when neither is present: GC without the list would delete everything.
Expected<std::vector<Attachment>> parse_valid_attachments(const NetConf& conf);

// A conflist (`plugins` list) or a single config (converted to a list of one).
struct NetConfList {
  std::string cni_version;
  std::string name;
  bool disable_check = false;
  bool disable_gc = false;
  std::vector<nlohmann::json> plugins;
  nlohmann::json raw;
};

Expected<NetConfList> parse_conflist(std::string_view bytes);

}  // namespace weir::cni
