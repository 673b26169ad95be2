// Network namespaces by fd. A thread is switched only inside run_in() and always switched back:
// a thread left in the wrong netns would silently configure the wrong container.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "lib/cni/error.hpp"

namespace weir::netns {

// Where iproute2 (and so `ip netns`, podman, CNI scripts) keeps named namespaces.
inline constexpr std::string_view kRunDir = "/var/run/netns";

// Owns an O_RDONLY|O_CLOEXEC fd to a network namespace. Move-only.
class Handle {
 public:
  // Failures keep errno (ENOENT when the netns file is gone): callers branch on sys_errno.
  static Expected<Handle> open(const std::string& path);
  // The netns of the calling thread (not of the process: run_in switches single threads).
  static Expected<Handle> current();

  Handle(Handle&& other) noexcept;
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();

  int fd() const { return fd_; }
  // The path it was opened from, for messages.
  const std::string& path() const { return path_; }
  // The nsfs inode: two handles refer to one namespace iff their inodes are equal.
  Expected<ino_t> inode() const;

 private:
  Handle(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

namespace detail {

// Switches the calling thread into a netns and back on destruction; aborts the process if it
// cannot switch back, because continuing in the wrong netns is worse than dying.
class NetnsGuard {
 public:
  static Expected<NetnsGuard> enter(const Handle& target);
  NetnsGuard(NetnsGuard&& other) noexcept
      : original_(std::exchange(other.original_, std::nullopt)) {}
  NetnsGuard& operator=(NetnsGuard&&) = delete;
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;
  ~NetnsGuard();

 private:
  explicit NetnsGuard(Handle original) : original_(std::move(original)) {}
  std::optional<Handle> original_;
};

template <class R>
struct RunInResult {
  using type = Expected<R>;
};
template <class T>
struct RunInResult<Expected<T>> {  // flatten: fn's own Expected<T> is returned as is
  using type = Expected<T>;
};
template <class F>
using RunInResultT = typename RunInResult<
    std::remove_cvref_t<std::invoke_result_t<std::remove_reference_t<F>&>>>::type;

}  // namespace detail

// Runs fn() with the calling thread in ns, then switches back to the thread's original netns.
// Fails (without calling fn) if entering ns fails. Returns Expected<R> for an R-returning fn,
// Expected<void> for a void fn, and fn's own Expected<T> unchanged when fn returns one.
template <class F>
auto run_in(const Handle& ns, F&& fn) -> detail::RunInResultT<F> {
  using R = std::remove_cvref_t<std::invoke_result_t<std::remove_reference_t<F>&>>;
  auto guard = detail::NetnsGuard::enter(ns);
  if (!guard) return fail(std::move(guard.error()));
  if constexpr (std::is_void_v<R>) {
    std::invoke(fn);
    return {};
  } else {
    return std::invoke(fn);
  }
}

// "foo" -> "/var/run/netns/foo"; anything containing '/' is taken as a path and returned as is.
std::string resolve_path(std::string_view name_or_path);

// Creates /var/run/netns/NAME holding a new, empty netns, like `ip netns add NAME` but without
// exec. Fails with EEXIST if the name is taken; leaves nothing behind on failure.
Expected<void> create_named(std::string_view name);

// Unmounts and removes /var/run/netns/NAME. A missing name is success.
Expected<void> remove_named(std::string_view name);

}  // namespace weir::netns
