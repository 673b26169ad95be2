// The spec's error JSON ("Error" section), apart from plugin_main. (The front end,
// plugins/front/front.cpp, links no C++ library and writes the same JSON by hand.)
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "lib/cni/error.hpp"

namespace weir::cni {

// The error JSON, with the caller's cniVersion.
nlohmann::json error_to_json(const Error& e, std::string_view version);

// The cniVersion to print an error in for a call with this stdin: the config's when we speak
// it, else ours (best effort: the config may be what is wrong).
std::string version_for_errors(std::string_view stdin_bytes);

}  // namespace weir::cni
