// /proc/sys reads and writes. See sysctl.hpp for which netns they act in.
#include "lib/netlink/sysctl.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace weir::netlink {
namespace {

constexpr std::string_view kRoot = "/proc/sys/";

using cni::quoted;

cni::Error bad_key(std::string_view key) {
  return cni::sys_error(EINVAL, "sysctl " + quoted(key) + ": bad key", cni::Code::kInvalidConfig);
}

Expected<std::string> read_file(const std::string& path, std::string_view key) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(cni::sys_error(errno, "read sysctl " + quoted(key)));
  std::string out;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail(cni::sys_error(err, "read sysctl " + quoted(key)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

Expected<void> write_file(const std::string& path, std::string_view key, std::string_view value) {
  const std::string what = "set sysctl " + quoted(key) + " to " + quoted(value);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail(cni::sys_error(errno, what));
  // One write(): proc handlers parse what a single write hands them.
  ssize_t n;
  do {
    n = ::write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  const int err = n < 0 ? errno : (static_cast<size_t>(n) != value.size() ? EIO : 0);
  if (::close(fd) != 0 && err == 0) return fail(cni::sys_error(errno, what));
  if (err != 0) return fail(cni::sys_error(err, what));
  return {};
}

}  // namespace

Expected<std::string> sysctl_path(std::string_view key) {
  if (key.empty() || key.front() == '/' || key.front() == '.') return fail(bad_key(key));
  std::string rel(key);
  if (rel.find('/') == std::string::npos) {
    for (char& c : rel) {
      if (c == '.') c = '/';
    }
  }
  // Every component must be a plain name: the path stays under /proc/sys.
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    const std::string_view part(rel.data() + start, end - start);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string_view::npos) {
      return fail(bad_key(key));
    }
    start = end + 1;
  }
  return std::string(kRoot) + rel;
}

Expected<void> set_sysctl(std::string_view key, std::string_view value) {
  auto path = sysctl_path(key);
  if (!path) return fail(std::move(path.error()));
  // Skip a write that changes nothing; a write-only key (read fails) is simply written.
  if (auto current = read_file(*path, key); current && *current == value) return {};
  return write_file(*path, key, value);
}

Expected<std::string> get_sysctl(std::string_view key) {
  auto path = sysctl_path(key);
  if (!path) return fail(std::move(path.error()));
  return read_file(*path, key);
}

Expected<void> set_sysctl_in(const netns::Handle& ns, std::string_view key,
                             std::string_view value) {
  // The file must be opened by a thread inside ns (see sysctl.hpp); run_in switches only this
  // thread, and only for the call.
  auto ok = netns::run_in(ns, [&] { return set_sysctl(key, value); });
  if (!ok) return fail(std::move(ok.error()).context("in netns " + quoted(ns.path())));
  return {};
}

Expected<std::string> get_sysctl_in(const netns::Handle& ns, std::string_view key) {
  auto value = netns::run_in(ns, [&] { return get_sysctl(key); });
  if (!value) return fail(std::move(value.error()).context("in netns " + quoted(ns.path())));
  return value;
}

}  // namespace weir::netlink
