// The CNI_* variables of a call (CNI spec, "Parameters"), for whatever passes a call on: a
// delegated plugin's environment, the weir-agent front end. No includes: the front end
// (plugins/front/front.cpp) links no C++ library.
#pragma once

namespace weir::cni {

inline constexpr const char* kCallVariables[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS",
                                                 "CNI_IFNAME",  "CNI_ARGS",        "CNI_PATH"};

}  // namespace weir::cni
