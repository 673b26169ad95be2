// Caller's bytes made fit for a message: JSON strings must be UTF-8, and an error quotes what
// it was given.
#pragma once

#include <string>
#include <string_view>

namespace weir::cni {

// s with every byte that is not part of valid UTF-8 written as "\xNN" (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
std::string printable(std::string_view s);

}  // namespace weir::cni
