// The CNI_* variables of a call (CNI spec, "Parameters"), for whatever passes a call on: a
// delegated plugin's environment. The weir-agent front end (agent/lean/front.cpp), which links
// no C++ library, has its own copy; a unit test keeps the two equal.
#pragma once

#include <string_view>

namespace weir::cni {

inline constexpr std::string_view kCallVariables[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS",
                                                      "CNI_IFNAME",  "CNI_ARGS",        "CNI_PATH"};

}  // namespace weir::cni
