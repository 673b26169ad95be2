// The system calls of the front end (front.cpp), made directly: the front end links no C
// library, whose start-up alone (on x86, dozens of CPUID instructions, each a trap to the
// hypervisor in a VM) took longer than everything the front end does. On architectures other
// than x86_64 and aarch64 (WEIR_FRONT_LIBC), through the C library's syscall(2).
//
// Each returns what the kernel returns: a negative errno on failure.
#pragma once

#include <asm/unistd.h>
#include <linux/time_types.h>

#include <cstddef>

#if defined(WEIR_FRONT_LIBC)
#include <unistd.h>

#include <cerrno>
#endif

namespace weir::agent::lean::sys {

#if defined(WEIR_FRONT_LIBC)
inline long call6(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  const long r = ::syscall(n, a, b, c, d, e, f);
  return r == -1 ? -errno : r;
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
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
}
#else
#error "no system calls of its own here: build with WEIR_FRONT_LIBC (cmake/weir.cmake does)"
#endif

template <typename A = long, typename B = long, typename C = long, typename D = long>
long call(long n, A a = 0, B b = 0, C c = 0, D d = 0) {
  return call6(n, (long)a, (long)b, (long)c, (long)d);
}

// The kernel ABI's constants that the front end needs (stable; the C library's headers, which
// define most of them, are not ours to include here).
constexpr int kAtFdcwd = -100;
constexpr int kCloexec = 02000000;  // O_CLOEXEC, SOCK_CLOEXEC
constexpr int kNonblock = 04000;    // O_NONBLOCK, SOCK_NONBLOCK
constexpr int kAfUnix = 1;
constexpr int kSockStream = 1;
constexpr int kShutWr = 1;
constexpr int kMsgNosignal = 0x4000;
constexpr short kPollIn = 0x1;
constexpr short kPollOut = 0x4;
constexpr int kMfdCloexec = 1;
constexpr int kFSetfd = 2;
constexpr int kProtRw = 0x3;
constexpr int kMapPrivateAnon = 0x22;
constexpr int kMremapMaymove = 1;
constexpr int kClockMonotonic = 1;
constexpr int kEintr = 4, kEagain = 11;

struct PollFd {
  int fd;
  short events;
  short revents;
};
struct SockaddrUn {
  unsigned short family;
  char path[108];
};
// The start of the kernel's struct stat on x86_64 and aarch64 (asm-generic) alike.
struct StatHead {
  unsigned long dev;
  unsigned long ino;
  char rest[128];
};

inline long read(int fd, void* buf, size_t n) {
  return call(__NR_read, fd, buf, n);
}
inline long write(int fd, const void* buf, size_t n) {
  return call(__NR_write, fd, buf, n);
}
inline long close(int fd) {
  return call(__NR_close, fd);
}
inline long socket(int domain, int type) {
  return call(__NR_socket, domain, type, 0);
}
inline long connect(int fd, const SockaddrUn* a) {
  return call(__NR_connect, fd, a, sizeof(*a));
}
inline long send(int fd, const void* buf, size_t n, int flags) {
  return call6(__NR_sendto, fd, (long)buf, (long)n, flags, 0, 0);
}
inline long shutdown(int fd, int how) {
  return call(__NR_shutdown, fd, how);
}
inline long ppoll(PollFd* fds, unsigned n, const __kernel_timespec* timeout) {
  return call6(__NR_ppoll, (long)fds, n, (long)timeout, 0, 0, 0);
}
inline long clock_gettime(__kernel_timespec* ts) {
  return call(__NR_clock_gettime, kClockMonotonic, ts);
}
inline long nanosleep(const __kernel_timespec* ts) {
  return call(__NR_clock_nanosleep, kClockMonotonic, 0, ts, 0);
}
inline long stat(const char* path, StatHead* st) {
  return call(__NR_newfstatat, kAtFdcwd, path, st, 0);
}
inline long readlink(const char* path, char* buf, size_t n) {
  return call(__NR_readlinkat, kAtFdcwd, path, buf, n);
}
inline long memfd_create(const char* name, unsigned flags) {
  return call(__NR_memfd_create, name, flags);
}
inline long lseek_start(int fd) {
  return call(__NR_lseek, fd, 0, 0);
}
inline long dup3(int from, int to) {
  return call(__NR_dup3, from, to, 0);
}
inline long clear_cloexec(int fd) {
  return call(__NR_fcntl, fd, kFSetfd, 0);
}
inline long execve(const char* path, char* const* argv, char* const* envp) {
  return call(__NR_execve, path, argv, envp);
}
[[noreturn]] inline void exit(int code) {
  for (;;) call(__NR_exit_group, code);
}
inline void* mmap(size_t n) {
  const long r = call6(__NR_mmap, 0, (long)n, kProtRw, kMapPrivateAnon, -1, 0);
  return r < 0 && r > -4096 ? nullptr : (void*)r;
}
inline void* mremap(void* old, size_t old_n, size_t n) {
  const long r = call6(__NR_mremap, (long)old, (long)old_n, (long)n, kMremapMaymove, 0, 0);
  return r < 0 && r > -4096 ? nullptr : (void*)r;
}

}  // namespace weir::agent::lean::sys
