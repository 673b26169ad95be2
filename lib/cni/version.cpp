#include "lib/cni/version.hpp"

#include <algorithm>
#include <charconv>

namespace weir::cni {

std::optional<Version> Version::parse(std::string_view text) {
  Version v;
  int* parts[] = {&v.major, &v.minor, &v.patch};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 3; ++i) {
    auto [next, ec] = std::from_chars(p, end, *parts[i]);
    if (ec != std::errc{} || *parts[i] < 0) return std::nullopt;
    p = next;
    if (i < 2) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
  }
  if (p != end) return std::nullopt;
  return v;
}

bool is_supported(std::string_view version) {
  return std::find(kSupportedVersions.begin(), kSupportedVersions.end(), version) !=
         kSupportedVersions.end();
}

std::string supported_list() {
  std::string out;
  for (auto v : kSupportedVersions) {
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

bool at_least(std::string_view version, std::string_view minimum) {
  return Version::parse(version).value_or(Version{}) >= Version::parse(minimum).value_or(Version{});
}

Expected<std::string> pick_version(const std::vector<std::string>& offered) {
  std::optional<Version> best;
  std::string best_text;
  for (const auto& v : offered) {
    auto parsed = Version::parse(v);
    if (!parsed || !is_supported(v)) continue;
    if (!best || *parsed > *best) {
      best = parsed;
      best_text = v;
    }
  }
  if (!best) {
    std::string offered_list;
    for (const auto& v : offered) offered_list += (offered_list.empty() ? "" : ", ") + v;
    return fail(incompatible_version("no supported version in cniVersions [" + offered_list +
                                     "]; weir supports " + supported_list()));
  }
  return best_text;
}

}  // namespace weir::cni
