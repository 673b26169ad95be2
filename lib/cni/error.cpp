#include "lib/cni/error.hpp"

#include <cstring>

namespace weir::cni {

Error sys_error(int err, std::string_view what, Code code) {
  Error e = make_error(code, std::string(what) + ": " + std::strerror(err));
  e.sys_errno = err;
  return e;
}

std::string quoted(std::string_view s) {
  // Appended rather than "\"" + std::string(s) + "\"": GCC 12 at -O2 warns (-Wrestrict, falsely)
  // about the operator+ form.
  std::string q = "\"";
  q.append(s).append("\"");
  return q;
}

}  // namespace weir::cni
