#include "lib/store/data_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "lib/store/paths.hpp"

namespace weir::store {

namespace {

cni::Error unsafe(const std::string& what, const std::string& fix) {
  return cni::make_error(cni::Code::kStore, "store: " + what + ": " + fix);
}

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// The path's components, in order ("." and "" dropped).
void push_components(std::string_view path, std::vector<std::string>& todo) {
  std::vector<std::string> parts;
  size_t at = 0;
  while (at <= path.size()) {
    size_t end = path.find('/', at);
    if (end == std::string_view::npos) end = path.size();
    if (end > at && path.substr(at, end - at) != ".") parts.emplace_back(path.substr(at, end - at));
    at = end + 1;
  }
  // todo is a stack: the next component is at its back.
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.push_back(std::move(*it));
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string parent_of(const std::string& dir) {
  const size_t slash = dir.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
}

Expected<void> check_owner(const struct stat& st, const std::string& path) {
  if (trusted_uid(st.st_uid)) return {};
  return fail(unsafe("\"" + path + "\" belongs to uid " + std::to_string(st.st_uid) +
                         ", not root",
                     "weir keeps its store only where nobody else can change it (chown root it, "
                     "or set dataDir to a folder root owns)"));
}

Expected<void> check_folder(const struct stat& st, const std::string& path, bool last) {
  if (auto ok = check_owner(st, path); !ok) return ok;
  const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  if (!others_write) return {};
  if (!last && (st.st_mode & S_ISVTX) != 0) return {};  // /tmp: others cannot replace ours
  return fail(unsafe((last ? "data folder \"" : "folder \"") + path +
                         "\" is writable by group or others (mode " + octal(st.st_mode) + ")",
                     last ? "chmod go-w it (weir makes it 0700), or set dataDir to a folder only "
                            "root can write"
                          : "chmod go-w it, or set dataDir to a folder whose parents only root "
                            "can write"));
}

}  // namespace

bool trusted_uid(uid_t uid) {
  return uid == 0 || uid == ::geteuid();
}

Expected<void> check_data_folder(std::string_view data_dir, bool create) {
  std::string want = data_folder(data_dir);
  if (!want.starts_with('/')) {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd)) == nullptr) {
      return fail(cni::sys_error(errno, "store: data folder \"" + want + "\"", cni::Code::kStore));
    }
    want = std::string(cwd) + "/" + want;
  }
  UniqueFd fd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return fail(cni::sys_error(errno, "store: open \"/\"", cni::Code::kStore));
  std::string at = "/";
  std::vector<std::string> todo;
  push_components(want, todo);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(cni::sys_error(errno, "store: stat \"/\"", cni::Code::kStore));
  if (auto ok = check_folder(st, "/", todo.empty()); !ok) return ok;
  int links = 0;
  while (!todo.empty()) {
    std::string name = std::move(todo.back());
    todo.pop_back();
    if (name == "..") {
      fd = UniqueFd(::openat(fd.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
      at = parent_of(at);
    } else {
      const std::string path = join(at, name);
      if (::fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT || !create) {
          return fail(cni::sys_error(errno, "store: data folder \"" + path + "\"", cni::Code::kStore));
        }
        if (::mkdirat(fd.get(), name.c_str(), 0700) != 0 && errno != EEXIST) {
          return fail(cni::sys_error(errno, "store: create data folder \"" + path + "\"", cni::Code::kStore));
        }
        if (::fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
          return fail(cni::sys_error(errno, "store: data folder \"" + path + "\"", cni::Code::kStore));
        }
      }
      if (S_ISLNK(st.st_mode)) {
        // It lies in a checked folder; who made it decides where it leads.
        if (auto ok = check_owner(st, path); !ok) return ok;
        if (++links > 40) {
          return fail(cni::sys_error(ELOOP, "store: data folder \"" + want + "\"", cni::Code::kStore));
        }
        char target[4096];
        const ssize_t n = ::readlinkat(fd.get(), name.c_str(), target, sizeof(target) - 1);
        if (n < 0) return fail(cni::sys_error(errno, "store: read link \"" + path + "\"", cni::Code::kStore));
        const std::string_view to(target, static_cast<size_t>(n));
        if (to.starts_with('/')) {
          fd = UniqueFd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
          at = "/";
        }
        push_components(to, todo);
        continue;
      }
      fd = UniqueFd(::openat(fd.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      at = path;
    }
    if (fd.get() < 0) return fail(cni::sys_error(errno, "store: data folder \"" + at + "\"", cni::Code::kStore));
    // Checked on what was opened, not on a name that may have changed since.
    if (::fstat(fd.get(), &st) != 0) return fail(cni::sys_error(errno, "store: stat \"" + at + "\"", cni::Code::kStore));
    if (auto ok = check_folder(st, at, todo.empty()); !ok) return ok;
  }
  if (create) {
    struct statvfs vfs {};
    if (::fstatvfs(fd.get(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0) {
      return fail(unsafe("data folder \"" + at + "\" is on a read-only file system",
                         "weir writes its store there; mount it read-write, or set dataDir to a "
                         "writable folder"));
    }
  }
  return {};
}

Expected<UniqueFd> open_data_file(const std::string& path, int flags, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    if (errno == ELOOP) {
      return fail(unsafe("\"" + path + "\" is a symbolic link",
                         "weir opens no link in its data folder; remove it (weir makes the file "
                         "again)"));
    }
    return fail(cni::sys_error(errno, "store: open \"" + path + "\"", cni::Code::kStore));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(cni::sys_error(errno, "store: stat \"" + path + "\"", cni::Code::kStore));
  if (!S_ISREG(st.st_mode)) {
    return fail(unsafe("\"" + path + "\" is not a regular file", "remove it (weir makes it again)"));
  }
  if (auto ok = check_owner(st, path); !ok) return fail(ok.error());
  return fd;
}

std::string link_mark(std::string_view data_dir) {
  const std::string folder = data_folder(data_dir);
  struct stat st {};
  const std::string id = ::stat(folder.c_str(), &st) == 0
                             ? std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)
                             : folder;
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bits
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return "weir-port:" + std::string(hex) + ":";
}

}  // namespace weir::store
