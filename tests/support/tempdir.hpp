// A throw-away folder for a test's store, configs and sockets (STYLE: hermetic tests use temp
// dirs). Header-only, no dependency beyond the standard library.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace weir::test {

// A fresh folder "<prefix>-<pid>-XXXXXX" under $TMPDIR, removed with everything in it when the object
// goes away (also when the test fails). Throws std::runtime_error when it cannot be made, which
// fails the test that wanted it.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "weir-test") {
    // "<prefix>-<pid>-XXXXXX": the pid tells a later test run (sweep_dead_tests_leftovers) that
    // a folder belongs to a test process that was killed before its destructors ran.
    std::string tmpl = (std::filesystem::temp_directory_path() /
                        (std::string(prefix) + "-" + std::to_string(::getpid()) + "-XXXXXX"))
                           .string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl + " failed");
    path_ = tmpl;
  }
  ~TempDir() {
    // A weir-agent serving this folder removes its socket as it exits, which it does when it
    // sees the folder go: a file can vanish under remove_all, which then stops. Go again.
    std::error_code ec;
    for (int i = 0; i < 5 && (std::filesystem::remove_all(path_, ec), ec); ++i) {
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace weir::test
