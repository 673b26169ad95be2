#include "lib/cni/error.hpp"

#include <cstring>

namespace weir::cni {

Error sys_error(int err, std::string_view what, Code code) {
  Error e = make_error(code, std::string(what) + ": " + std::strerror(err));
  e.sys_errno = err;
  return e;
}

}  // namespace weir::cni
