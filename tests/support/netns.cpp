#include "tests/support/netns.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <stdexcept>

#include "lib/netns/netns.hpp"

namespace weir::test {
namespace {

std::string unique_name(std::string_view tag) {
  static std::atomic<unsigned> counter{0};
  // Short tags keep the name readable in `ip netns list`; the pid keeps parallel runs apart.
  return "weirt-" + std::string(tag.substr(0, 8)) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter++);
}

}  // namespace

TestNetns::TestNetns(std::string_view tag) : name_(unique_name(tag)) {
  if (auto ok = netns::create_named(name_); !ok) {
    throw std::runtime_error("create test netns: " + ok.error().msg);
  }
}

TestNetns::~TestNetns() {
  if (auto ok = netns::remove_named(name_); !ok) {
    ADD_FAILURE() << "remove test netns: " << ok.error().msg;
  }
}

std::string TestNetns::path() const {
  return netns::resolve_path(name_);
}

bool have_root() {
  return ::geteuid() == 0;
}

std::string sh(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    if (status) *status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  if (status) *status = (rc != -1 && WIFEXITED(rc)) ? WEXITSTATUS(rc) : -1;
  return out;
}

}  // namespace weir::test
