// The system calls of the front end (front.cpp): the seam between it and what it runs on,
// picked by WEIR_FRONT_RUNTIME (cmake/weir.cmake):
// - own (the default on x86_64 and aarch64): made directly, with our own _start (front.cpp).
//   The front end links no C library, whose start-up alone (glibc's: on x86, dozens of CPUID
//   instructions, each a trap to the hypervisor in a VM) took longer than everything the front
//   end does.
// - nolibc (WEIR_FRONT_NOLIBC): the same calls through the kernel's tools/include/nolibc, whose
//   _start and system-call macros replace ours.
// - musl, glibc (WEIR_FRONT_LIBC): the C library makes them and gives the constants, which
//   differ between architectures. glibc is what architectures other than x86_64 and aarch64
//   build, and a test variant (weir-front-libc).
// bench/bridge/README.md has them measured side by side.
//
// Each returns what the kernel returns: a negative errno on failure.
#pragma once

#include <cstddef>

#if defined(WEIR_FRONT_LIBC)
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#elif defined(WEIR_FRONT_NOLIBC)
#include <asm/unistd.h>

// nolibc's _start (which calls main()) and system-call macros, from WEIR_NOLIBC_DIR. Not all of
// nolibc.h: it is C that C++ rejects (parameters named `new`, void* converted implicitly).
#include "arch.h"
#else
#include <asm/unistd.h>
#endif

namespace weir::agent::proto::sys {

#if defined(WEIR_FRONT_LIBC)
inline long call6(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  const long r = ::syscall(n, a, b, c, d, e, f);
  return r == -1 ? -errno : r;
}
inline long result(long r) { return r == -1 ? -errno : r; }

constexpr int kCloexec = O_CLOEXEC;  // also SOCK_CLOEXEC
constexpr int kSoPeercred = SO_PEERCRED;
constexpr int kSockStream = SOCK_STREAM;
constexpr int kMsgNosignal = MSG_NOSIGNAL;
constexpr int kEintr = EINTR, kEagain = EAGAIN, kEperm = EPERM, kEnoent = ENOENT, kE2big = E2BIG,
              kEnoexec = ENOEXEC, kEnomem = ENOMEM, kEacces = EACCES, kEnotdir = ENOTDIR,
              kEisdir = EISDIR, kEnfile = ENFILE, kEmfile = EMFILE, kEtxtbsy = ETXTBSY,
              kEnametoolong = ENAMETOOLONG, kEnosys = ENOSYS, kEloop = ELOOP;
#else
#if defined(WEIR_FRONT_NOLIBC)
inline long call6(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  return my_syscall6(n, a, b, c, d, e, f);
}
#elif defined(__x86_64__)
inline long call6(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return r;
}
#elif defined(__aarch64__)
inline long call6(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
#else
#error "no system calls of its own here: build with WEIR_FRONT_LIBC (cmake/weir.cmake does)"
#endif

// The kernel ABI's constants on x86_64 and aarch64 (no C library's headers to take them from).
constexpr int kCloexec = 02000000;  // O_CLOEXEC, SOCK_CLOEXEC
constexpr int kSoPeercred = 17;
constexpr int kNonblockFlag = 04000;
constexpr int kSockStream = 1;
constexpr int kMsgNosignal = 0x4000;
constexpr int kEintr = 4, kEagain = 11, kEperm = 1, kEnoent = 2, kE2big = 7, kEnoexec = 8,
              kEnomem = 12, kEacces = 13, kEnotdir = 20, kEisdir = 21, kEnfile = 23, kEmfile = 24,
              kEtxtbsy = 26, kEnametoolong = 36, kEnosys = 38, kEloop = 40;
#endif

// The same on every Linux architecture.
constexpr int kAfUnix = 1;
constexpr int kShutWr = 1;
constexpr short kPollIn = 0x1;
constexpr short kPollOut = 0x4;
constexpr int kMfdCloexec = 1;
constexpr int kFSetfd = 2;

// Any argument a system call takes, as a register.
template <typename... Args>
long call(long n, Args... args) {
  return call6(n, (long)args...);
}

struct SockaddrUn {  // struct sockaddr_un
  unsigned short family;
  char path[108];
};

inline long read(int fd, void* buf, size_t n) { return call(__NR_read, fd, buf, n); }
inline long write(int fd, const void* buf, size_t n) { return call(__NR_write, fd, buf, n); }
inline long close(int fd) { return call(__NR_close, fd); }
inline long socket(int domain, int type) { return call(__NR_socket, domain, type, 0); }
inline long connect(int fd, const SockaddrUn* a) { return call(__NR_connect, fd, a, sizeof(*a)); }
inline long send(int fd, const void* buf, size_t n, int flags) {
  return call(__NR_sendto, fd, buf, n, flags, 0, 0);
}
inline long shutdown(int fd, int how) { return call(__NR_shutdown, fd, how); }
inline long readlink(const char* path, char* buf, size_t n) {
  return call(__NR_readlinkat, -100 /* AT_FDCWD */, path, buf, n);
}
inline long memfd_create(const char* name, unsigned flags) { return call(__NR_memfd_create, name, flags); }
inline long lseek_start(int fd) { return call(__NR_lseek, fd, 0, 0); }
inline long dup3(int from, int to) { return call(__NR_dup3, from, to, 0); }
inline long clear_cloexec(int fd) { return call(__NR_fcntl, fd, kFSetfd, 0); }
inline long execve(const char* path, char* const* argv, char* const* envp) {
  return call(__NR_execve, path, argv, envp);
}
inline long geteuid() { return call(__NR_geteuid); }

// The uid of the process that listens on a connected unix socket (SO_PEERCRED); negative errno.
inline long peer_uid(int fd) {
  struct {
    int pid;
    unsigned uid, gid;
  } cred{};
  unsigned len = sizeof(cred);
  const long r = call(__NR_getsockopt, fd, 1 /* SOL_SOCKET */, kSoPeercred, &cred, &len);
  return r < 0 ? r : static_cast<long>(cred.uid);
}

// The file type bits (S_IFMT) of path itself, not of what a link leads to (statx, whose
// struct is the same on every architecture); negative errno.
inline long file_type(const char* path) {
  struct {
    unsigned mask, blksize;
    unsigned long long attributes;
    unsigned nlink, uid, gid;
    unsigned short mode;
    char rest[256 - 30];
  } stx{};
  const long r = call(__NR_statx, -100 /* AT_FDCWD */, path, 0x100 /* AT_SYMLINK_NOFOLLOW */,
                      0x1 /* STATX_TYPE */, &stx);
  return r < 0 ? r : static_cast<long>(stx.mode & 0170000);
}
constexpr long kIfSock = 0140000;

[[noreturn]] inline void exit(int code) {
  for (;;) call(__NR_exit_group, code);
}

// Those whose structures or numbers differ between architectures: the C library's in
// WEIR_FRONT_LIBC builds.
#if defined(WEIR_FRONT_LIBC)
inline long now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1'000'000;
}
inline long wait_fd(int fd, short events, long timeout_ms) {
  pollfd p{fd, events, 0};
  return result(::poll(&p, 1, static_cast<int>(timeout_ms)));
}
inline long file_id(const char* path, unsigned long* dev, unsigned long* ino) {
  struct stat st {};
  if (::stat(path, &st) != 0) return -errno;
  *dev = st.st_dev;
  *ino = st.st_ino;
  return 0;
}
inline long set_send_timeout(int fd, long ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  return result(::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)));
}
inline long set_nonblocking(int fd) { return result(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK)); }
inline void* mmap(size_t n) {
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}
inline void* mremap(void* old, size_t old_n, size_t n) {
  void* p = ::mremap(old, old_n, n, MREMAP_MAYMOVE);
  return p == MAP_FAILED ? nullptr : p;
}
#else
struct KernelTimespec {  // struct __kernel_timespec
  long sec;
  long nsec;
};
inline long now_ms() {
  KernelTimespec ts{};
  call(__NR_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts);
  return ts.sec * 1000 + ts.nsec / 1'000'000;
}
inline long wait_fd(int fd, short events, long timeout_ms) {
  struct {
    int fd;
    short events, revents;
  } p{fd, events, 0};
  const KernelTimespec t{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000};
  return call(__NR_ppoll, &p, 1, &t, 0, 0);
}
inline long file_id(const char* path, unsigned long* dev, unsigned long* ino) {
  struct {  // the start of struct stat on x86_64 and aarch64 (asm-generic) alike
    unsigned long dev;
    unsigned long ino;
    char rest[128];
  } st;
  const long r = call(__NR_newfstatat, -100 /* AT_FDCWD */, path, &st, 0);
  *dev = st.dev;
  *ino = st.ino;
  return r;
}
inline long set_send_timeout(int fd, long ms) {
  const long tv[2] = {ms / 1000, (ms % 1000) * 1000};          // struct timeval
  return call(__NR_setsockopt, fd, 1 /* SOL_SOCKET */, 21 /* SO_SNDTIMEO */, tv, sizeof(tv));
}
inline long set_nonblocking(int fd) {
  const long flags = call(__NR_fcntl, fd, 3 /* F_GETFL */);
  return flags < 0 ? flags : call(__NR_fcntl, fd, 4 /* F_SETFL */, flags | kNonblockFlag);
}
inline void* mapped(long r) { return r < 0 && r > -4096 ? nullptr : (void*)r; }
inline void* mmap(size_t n) {
  return mapped(call(__NR_mmap, 0, n, 0x3 /* PROT_READ|WRITE */, 0x22 /* MAP_PRIVATE|ANONYMOUS */, -1, 0));
}
inline void* mremap(void* old, size_t old_n, size_t n) {
  return mapped(call(__NR_mremap, old, old_n, n, 1 /* MREMAP_MAYMOVE */, 0));
}
#endif

}  // namespace weir::agent::proto::sys
