#include "tests/support/netns.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
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

// The pid in "<anything>-<pid>-<suffix>", when the name has that shape; 0 otherwise.
pid_t pid_in(const std::string& name) {
  const size_t last = name.rfind('-');
  if (last == std::string::npos || last == 0) return 0;
  const size_t first = name.rfind('-', last - 1);
  if (first == std::string::npos) return 0;
  const std::string digits = name.substr(first + 1, last - first - 1);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<pid_t>(std::atoll(digits.c_str()));
}

bool dead(pid_t pid) {
  return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

// What earlier test processes made and could not remove because they were killed (a ctest
// timeout, SIGKILL): their "weirt-*" netns and their "weir*" temp folders, both named with the
// creator's pid. Removing a folder also ends a weir-agent serving it (it exits when its data
// folder goes). Only names of that shape whose pid no longer runs.
void sweep_dead_tests_leftovers() {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (fs::directory_iterator it("/run/netns", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with("weirt-") && dead(pid_in(name))) (void)netns::remove_named(name);
  }
  const fs::path tmp = fs::temp_directory_path(ec);
  if (ec) return;
  for (fs::directory_iterator it(tmp, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code kind;
    if (name.starts_with("weir") && it->is_directory(kind) && !it->is_symlink(kind) &&
        dead(pid_in(name))) {
      std::error_code rm;
      fs::remove_all(it->path(), rm);
    }
  }
}

}  // namespace

TestNetns::TestNetns(std::string_view tag) : name_(unique_name(tag)) {
  static std::once_flag swept;
  std::call_once(swept, sweep_dead_tests_leftovers);
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
