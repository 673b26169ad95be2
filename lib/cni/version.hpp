// CNI spec versions: which we speak, how they compare, and which verbs each allows.
#pragma once

#include <array>
#include <compare>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"

namespace weir::cni {

inline constexpr std::string_view kCurrentVersion = "1.1.0";
inline constexpr std::array<std::string_view, 7> kSupportedVersions = {
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

struct Version {
  int major = 0;
  int minor = 0;
  int patch = 0;

  static std::optional<Version> parse(std::string_view text);
  friend auto operator<=>(const Version&, const Version&) = default;
};

bool is_supported(std::string_view version);

// "0.1.0, 0.2.0, …": for messages.
std::string supported_list();

// True when `version` >= `minimum`; unparsable versions compare as 0.0.0.
bool at_least(std::string_view version, std::string_view minimum);

// From a conflist's `cniVersions`, the highest version we support (spec 1.1: "cniVersions").
// Fails with code 1 naming both sides when there is none.
Expected<std::string> pick_version(const std::vector<std::string>& offered);

}  // namespace weir::cni
