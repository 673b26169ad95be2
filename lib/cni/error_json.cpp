#include "lib/cni/error_json.hpp"

#include "lib/cni/printable.hpp"
#include "lib/cni/version.hpp"

namespace weir::cni {

using nlohmann::json;

json error_to_json(const Error& e, std::string_view version) {
  // A message may quote the caller's bytes: JSON strings must be UTF-8, or dump() throws.
  json j = {{"cniVersion", version}, {"code", e.code_value()}, {"msg", printable(e.msg)}};
  if (!e.details.empty()) j["details"] = printable(e.details);
  return j;
}

std::string version_for_errors(std::string_view stdin_bytes) {
  auto j = json::parse(stdin_bytes, nullptr, false);
  if (j.is_object() && j.contains("cniVersion") && j["cniVersion"].is_string()) {
    std::string v = j["cniVersion"].get<std::string>();
    if (is_supported(v)) return v;
  }
  return std::string(kCurrentVersion);
}

}  // namespace weir::cni
