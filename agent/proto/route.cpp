#include "agent/proto/route.hpp"

#include "lib/store/default_dir.hpp"

namespace weir::agent::proto {

namespace {

constexpr const char* kVersions[] = {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

// ipam.dataDir when it is a string, else the plugin's own dataDir when it is one, else the
// default folder (ipam::data_dir_in: lenient, so that DEL works when the rest of the section no
// longer parses).
bool ipam_data_dir(const Json& conf, const Json& ipam, Text& dir) {
  if (const Json own = ipam.member("dataDir"); own.kind == Json::kString) return own.decode(dir);
  if (const Json plugin = conf.member("dataDir"); plugin.kind == Json::kString) return plugin.decode(dir);
  return dir.assign({store::kDefaultDataDirText, length(store::kDefaultDataDirText)});
}

bool absolute(const Text& dir) {
  return dir.size > 0 && dir.data[0] == '/';
}

}  // namespace

bool ipam_agent_dir(const Json& conf, Text& dir) {
  const Json ipam = conf.member("ipam");
  return ipam.kind == Json::kObject && ipam_data_dir(conf, ipam, dir) && absolute(dir);
}

bool bridge_agent_dir(const Json& conf, Text& dir) {
  if (conf.kind != Json::kObject) return false;
  const Json ipam = conf.member("ipam");
  const bool l2_only = ipam.kind == Json::kNone || ipam.empty_object();
  if (!l2_only && !ipam.member("type").string_equals("weir-ipam")) return false;
  bool ok;
  if (const Json own = conf.member("dataDir"); own.kind != Json::kNone) {
    ok = own.decode(dir);  // false unless a string
  } else if (l2_only) {
    ok = dir.assign({store::kDefaultDataDirText, length(store::kDefaultDataDirText)});
  } else {
    ok = ipam_data_dir(conf, ipam, dir);
  }
  return ok && absolute(dir);
}

bool data_file(Bytes dir, const char* name, Text& path) {
  if (!path.assign(dir)) return false;
  if (path.size == 0 || path.data[path.size - 1] != '/') {
    if (!path.append({"/", 1})) return false;
  }
  return path.append({name, length(name)});
}

const char* version_for_errors(const Json& conf) {
  const Json v = conf.member("cniVersion");
  for (const char* known : kVersions) {
    if (v.string_equals(known)) return known;
  }
  return kVersions[sizeof(kVersions) / sizeof(kVersions[0]) - 1];
}

}  // namespace weir::agent::proto
