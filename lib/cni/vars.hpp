// The CNI_* variables of a call (CNI spec, "Parameters"), for whatever passes a call on: a
// delegated plugin's environment, the weir-agent front end. Nothing heavy: the front end uses it.
#pragma once

#include <string_view>

namespace weir::cni {

inline constexpr std::string_view kCallVariables[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS",
                                                      "CNI_IFNAME",  "CNI_ARGS",        "CNI_PATH"};

}  // namespace weir::cni
