// Privileged-test helpers: a throw-away named netns per test, a root check that skips cleanly,
// and a shell runner for verifying what the product did with `ip`.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace weir::test {

// A uniquely named netns, "weirt-<tag>-<pid>-<n>", created with weir::netns::create_named and
// removed (with everything in it) when the object goes out of scope, also when a test fails.
// Throws std::runtime_error when it cannot be created, which fails the test that wanted it.
class TestNetns {
 public:
  explicit TestNetns(std::string_view tag);
  ~TestNetns();
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const;  // /var/run/netns/<name>

 private:
  std::string name_;
};

bool have_root();

// Runs `cmd` with /bin/sh and returns its stdout; *status gets the exit status when given.
std::string sh(const std::string& cmd, int* status = nullptr);

}  // namespace weir::test

// Skips the current test (from the test body or SetUp) when not running as root.
#define WEIR_REQUIRE_ROOT()                                       \
  do {                                                            \
    if (!::weir::test::have_root()) GTEST_SKIP() << "needs root"; \
  } while (0)
