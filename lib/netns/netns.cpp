#include "lib/netns/netns.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace weir::netns {
namespace {

// /proc/self/ns/net is the netns of the thread group leader; a thread that run_in() switched
// has its own, which only /proc/self/task/<tid> shows.
std::string thread_netns_path() {
  return "/proc/self/task/" + std::to_string(::gettid()) + "/ns/net";
}

using cni::quoted;

// A name must stay a single file under kRunDir.
Expected<void> check_name(std::string_view name, std::string_view verb) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.size() > NAME_MAX) {
    return fail(cni::sys_error(EINVAL, std::string(verb) + " netns " + quoted(name),
                               cni::Code::kInvalidConfig));
  }
  return {};
}

Expected<void> mkdir_p(const std::string& dir, mode_t mode) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) {
      return fail(cni::sys_error(errno, "mkdir " + quoted(prefix)));
    }
  }
  return {};
}

// Like iproute2: make the run dir a shared mount point so that unmounting a netns file in one
// mount namespace unmounts it in all of them and the netns can be freed.
Expected<void> ensure_run_dir() {
  const std::string dir(kRunDir);
  if (auto ok = mkdir_p(dir, 0755); !ok) return ok;
  bool bound = false;
  while (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    // EINVAL: not a mount point yet; bind it onto itself once, then retry.
    if (errno != EINVAL || bound) {
      return fail(cni::sys_error(errno, "make " + quoted(dir) + " a shared mount"));
    }
    if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) {
      return fail(cni::sys_error(errno, "bind-mount " + quoted(dir) + " on itself"));
    }
    bound = true;
  }
  return {};
}

struct BindRequest {
  const char* target = nullptr;
  int err = 0;
  const char* step = "";
};

// Runs on a throw-away thread: unshare() moves only this thread into the new netns, so the
// caller's threads never leave theirs. The bind mount keeps the netns alive after the thread.
void* bind_new_netns(void* arg) {
  auto* req = static_cast<BindRequest*>(arg);
  if (::unshare(CLONE_NEWNET) != 0) {
    req->err = errno;
    req->step = "unshare";
    return nullptr;
  }
  char self[64];
  std::snprintf(self, sizeof(self), "/proc/self/task/%d/ns/net", static_cast<int>(::gettid()));
  if (::mount(self, req->target, "none", MS_BIND, nullptr) != 0) {
    req->err = errno;
    req->step = "bind-mount";
  }
  return nullptr;
}

}  // namespace

Expected<Handle> Handle::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(cni::sys_error(errno, "open netns " + quoted(path)));
  return Handle(fd, path);
}

Expected<Handle> Handle::current() {
  return open(thread_netns_path());
}

Handle::Handle(Handle&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

Handle::~Handle() {
  if (fd_ >= 0) ::close(fd_);
}

Expected<ino_t> Handle::inode() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return fail(cni::sys_error(errno, "stat netns " + quoted(path_)));
  return st.st_ino;
}

namespace detail {

Expected<NetnsGuard> NetnsGuard::enter(const Handle& target) {
  auto original = Handle::current();
  if (!original)
    return fail(std::move(original.error()).context("enter netns " + quoted(target.path())));
  if (::setns(target.fd(), CLONE_NEWNET) != 0) {
    return fail(cni::sys_error(errno, "enter netns " + quoted(target.path())));
  }
  return NetnsGuard(std::move(*original));
}

NetnsGuard::~NetnsGuard() {
  if (!original_) return;
  if (::setns(original_->fd(), CLONE_NEWNET) != 0) {
    // No error path can make this safe: every later request would hit the wrong netns.
    std::fprintf(stderr, "weir: cannot return thread %d to its original netns: %s\n",
                 static_cast<int>(::gettid()), std::strerror(errno));
    std::abort();
  }
}

}  // namespace detail

std::string resolve_path(std::string_view name_or_path) {
  if (name_or_path.find('/') != std::string_view::npos) return std::string(name_or_path);
  return std::string(kRunDir) + "/" + std::string(name_or_path);
}

Expected<void> create_named(std::string_view name) {
  if (auto ok = check_name(name, "create"); !ok) return ok;
  const std::string what = "create netns " + quoted(name);
  if (auto ok = ensure_run_dir(); !ok) return fail(std::move(ok.error()).context(what));

  const std::string path = resolve_path(name);
  // Mode 0 like iproute2: the file is only a mount point.
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) return fail(cni::sys_error(errno, what));
  ::close(fd);

  BindRequest req{.target = path.c_str()};
  pthread_t thread;
  if (int rc = ::pthread_create(&thread, nullptr, bind_new_netns, &req); rc != 0) {
    req.err = rc;
    req.step = "start thread";
  } else {
    ::pthread_join(thread, nullptr);
  }
  if (req.err != 0) {
    ::unlink(path.c_str());
    return fail(cni::sys_error(req.err, std::string(req.step) + " " + quoted(path)).context(what));
  }
  return {};
}

Expected<void> remove_named(std::string_view name) {
  if (auto ok = check_name(name, "remove"); !ok) return ok;
  const std::string path = resolve_path(name);
  // EINVAL: not a mount point (a half-created entry); ENOENT: already gone.
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return fail(cni::sys_error(errno, "unmount netns " + quoted(name)));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return fail(cni::sys_error(errno, "remove netns " + quoted(name)));
  }
  return {};
}

}  // namespace weir::netns
