// weir-bridge and weir-ipam: the plugin process of a plugin whose ADD and DEL weir-agent runs.
// ADD and DEL go to the weir-agent that serves the config's data dir (route.hpp), which runs
// them on the store it keeps open. Everything else, and every call the agent does not take,
// runs in the local binary (weir-bridge-local, weir-ipam-local), exec'd in our place with the
// same environment and stdin. The caller cannot tell the paths apart: same output, same exit
// code.
//
// Built without the C library (-nostdlib, sys.hpp): its start-up was most of a call's time
// here. So no std::string, no heap (mmap'd buffers instead), no exceptions, no static
// constructors; WEIR_FRONT_PLUGIN (kBridge or kIpam) picks the plugin.
#include "agent/proto/frame.hpp"
#include "agent/proto/json.hpp"
#include "agent/proto/route.hpp"
#include "plugins/front/sys.hpp"

namespace weir::agent::proto {

namespace {

constexpr const Plugin& kPlugin = WEIR_FRONT_PLUGIN;

// Bytes of any length, in memory of their own (mmap, grown with mremap).
struct Buffer {
  char* data = nullptr;
  size_t size = 0;
  size_t cap = 0;

  bool reserve(size_t more) {
    if (cap - size >= more) return true;
    size_t want = cap == 0 ? 65536 : cap;
    while (want - size < more) want *= 2;
    void* p = data == nullptr ? sys::mmap(want) : sys::mremap(data, cap, want);
    if (p == nullptr) return false;
    data = static_cast<char*>(p);
    cap = want;
    return true;
  }
  bool append(Bytes b) {
    if (!reserve(b.size)) return false;
    for (size_t i = 0; i < b.size; ++i) data[size + i] = b.data[i];
    size += b.size;
    return true;
  }
  bool append(const char* text) { return append({text, length(text)}); }
  bool append_number(unsigned long v) { return append_decimal(*this, v); }
  Bytes bytes() const { return {data, size}; }
};

char** environment;

const char* getenv(const char* name) {
  const size_t n = length(name);
  for (char** e = environment; *e != nullptr; ++e) {
    if (Bytes{*e, n + 1}.starts_with(name) && (*e)[n] == '=') return *e + n + 1;
  }
  return nullptr;
}

void write_all(int fd, Bytes data) {
  while (data.size > 0) {
    const long n = sys::write(fd, data.data, data.size);
    if (n == -sys::kEintr) continue;
    if (n <= 0) return;
    data.data += n;
    data.size -= static_cast<size_t>(n);
  }
}

// All of stdin; a read error ends it, as EOF would. False when out of memory.
bool read_all(int fd, Buffer& into) {
  for (;;) {
    if (!into.reserve(16384)) return false;
    const long n = sys::read(fd, into.data + into.size, into.cap - into.size);
    if (n == -sys::kEintr) continue;
    if (n <= 0) return true;
    into.size += static_cast<size_t>(n);
  }
}

bool wait_for(int fd, short events, long deadline_ms) {
  for (;;) {
    const long left = deadline_ms - sys::now_ms();
    if (left <= 0) return false;
    const long r = sys::wait_fd(fd, events, left);
    if (r > 0) return true;
    if (r != -sys::kEintr && r != 0) return true;  // let the read or write report it
  }
}

// strerror's words for what exec and memfd_create fail with.
const char* errno_name(long err) {
  switch (err) {
    case sys::kEperm: return "Operation not permitted";
    case sys::kEnoent: return "No such file or directory";
    case sys::kE2big: return "Argument list too long";
    case sys::kEnoexec: return "Exec format error";
    case sys::kEnomem: return "Cannot allocate memory";
    case sys::kEacces: return "Permission denied";
    case sys::kEnotdir: return "Not a directory";
    case sys::kEisdir: return "Is a directory";
    case sys::kEnfile: return "Too many open files in system";
    case sys::kEmfile: return "Too many open files";
    case sys::kEtxtbsy: return "Text file busy";
    case sys::kEnametoolong: return "File name too long";
    case sys::kEnosys: return "Function not implemented";
    case sys::kEloop: return "Too many levels of symbolic links";
    default: return nullptr;
  }
}

// The error JSON as plugin_main prints it (keys in nlohmann::json's order); exit code 1.
[[noreturn]] void fail(const Json& conf, int code, Bytes msg) {
  Buffer out;
  out.append("{\"cniVersion\":\"");
  out.append(version_for_errors(conf));
  out.append("\",\"code\":");
  out.append_number(static_cast<unsigned long>(code));
  out.append(",\"msg\":\"");
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < msg.size; ++i) {
    const unsigned char c = static_cast<unsigned char>(msg.data[i]);
    const char* named = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                      : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : nullptr;
    if (named != nullptr) {  // as nlohmann::json writes them
      out.append(named);
    } else if (c < 0x20) {
      const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      out.append({esc, 6});
    } else {
      out.append({msg.data + i, 1});
    }
  }
  out.append("\"}\n");
  write_all(1, out.bytes());
  sys::exit(1);
}

[[noreturn]] void fail_no_answer(const Json& conf) {
  Buffer msg;
  msg.append("weir-agent has the ");
  msg.append(kPlugin.name);
  msg.append(" call and did not answer in time");
  fail(conf, 11, msg.bytes());
}

// The path of the local binary: next to our own executable, whatever CNI_PATH says.
void local_binary(Text& path) {
  const long n = sys::readlink("/proc/self/exe", path.data, Text::kCapacity - 1);
  size_t dir = 0;
  for (long i = 0; i < n; ++i) {
    if (path.data[i] == '/') dir = static_cast<size_t>(i);
  }
  if (n <= 0) {
    path.assign({".", 1});
  } else {
    path.size = dir;  // 0 for an executable in "/": "/<name>"
  }
  const char* name = kPlugin.local_binary;
  path.append({"/", 1});
  path.append({name, length(name)});
  path.data[path.size < Text::kCapacity ? path.size : Text::kCapacity - 1] = '\0';
}

// Becomes the local binary: on our stdin as it is, or, once we have read it (`input`), on a
// copy of it in memory.
[[noreturn]] void exec_local(const Buffer* input) {
  Text path;
  local_binary(path);
  long err = 0;
  if (input != nullptr) {
    const long fd = err = sys::memfd_create("weir-stdin", sys::kMfdCloexec);
    if (fd >= 0) {
      write_all(static_cast<int>(fd), input->bytes());
      err = sys::lseek_start(static_cast<int>(fd));
      // Our stdin was closed (memfd got 0): it only needs to survive the exec.
      if (err == 0) err = fd == 0 ? sys::clear_cloexec(0) : sys::dup3(static_cast<int>(fd), 0);
    }
  }
  if (err >= 0) {
    char* argv[] = {path.data, nullptr};
    err = sys::execve(path.data, argv, environment);
  }
  Buffer msg;
  msg.append(kPlugin.name);
  msg.append(": run \"");
  msg.append(path.bytes());
  msg.append("\": ");
  if (const char* name = errno_name(-err)) {
    msg.append(name);
  } else {
    msg.append("error ");
    msg.append_number(static_cast<unsigned long>(-err));
  }
  Buffer unread;  // only for the cniVersion of this error
  if (input == nullptr) (void)read_all(0, unread);
  fail(Json::parse((input != nullptr ? input : &unread)->bytes()), 5, msg.bytes());
}

// Whether CNI_NETNS names the same netns in the agent as here: not a path relative to our cwd
// or to the calling process itself ("/proc/self/ns/net" would be the agent's own netns).
bool netns_path_portable(const char* netns) {
  if (netns == nullptr || *netns == '\0') return true;
  const Bytes p{netns, length(netns)};
  return p.starts_with("/") && !p.starts_with("/proc/self/") &&
         !p.starts_with("/proc/thread-self/") && !p.starts_with("/dev/fd/");
}

// "<dev>:<inode>" of one of our namespaces (call.hpp's namespaces_id); false when unknown.
bool append_namespace(Text& to, const char* path) {
  unsigned long dev = 0, ino = 0;
  if (sys::file_id(path, &dev, &ino) != 0) return false;
  return append_decimal(to, dev) && to.append({":", 1}) && append_decimal(to, ino);
}

// An agent.sock that is not weir-agent's: nothing is sent to it, and the call fails (102) rather
// than run here past something planted in the data folder.
[[noreturn]] void untrusted_agent(const Json& conf, const Text& socket_path, const char* why) {
  Buffer msg;
  msg.append(kPlugin.name);
  msg.append(": weir-agent socket \"");
  msg.append(socket_path.bytes());
  msg.append("\" ");
  msg.append(why);
  msg.append(": not sending it the call (remove it; the data folder must be writable by root only)");
  fail(conf, 102, msg.bytes());
}

// Connects, waiting (in the kernel, until the deadline) for room when the agent's queue is
// full: that agent is busy, not gone. Then non-blocking. -1: no agent listens (or the path
// cannot be a socket).
int connect_agent(const Text& socket_path, long deadline_ms, const Json& conf) {
  sys::SockaddrUn addr{};
  addr.family = sys::kAfUnix;
  if (socket_path.size >= sizeof(addr.path)) return -1;
  for (size_t i = 0; i < socket_path.size; ++i) addr.path[i] = socket_path.data[i];
  // connect() follows a link: a link there could lead the call to any daemon's socket.
  const long type = sys::file_type(addr.path);
  if (type >= 0 && type != sys::kIfSock) untrusted_agent(conf, socket_path, "is not a socket (a link?)");
  const long made = sys::socket(sys::kAfUnix, sys::kSockStream | sys::kCloexec);
  if (made < 0) return -1;
  const int fd = static_cast<int>(made);
  for (;;) {
    const long left = deadline_ms - sys::now_ms();
    if (left <= 0) fail_no_answer(conf);
    if (sys::set_send_timeout(fd, left) != 0) break;
    const long r = sys::connect(fd, &addr);
    if (r == 0) {
      // The listener gets the whole call and we print its answer: root or ourselves only.
      const long uid = sys::peer_uid(fd);
      if (uid != 0 && uid != sys::geteuid()) {
        untrusted_agent(conf, socket_path, "is served by a process of another user");
      }
      if (sys::set_nonblocking(fd) != 0) break;
      return fd;
    }
    if (r == -sys::kEagain) fail_no_answer(conf);  // its queue stayed full
    if (r != -sys::kEintr) break;                    // ENOENT, ECONNREFUSED: none listens
  }
  sys::close(fd);
  return -1;
}

// Sends all of data; false if the agent went away (it is exiting: the call was not run).
bool send_all(int fd, Bytes data, long deadline_ms, const Json& conf) {
  while (data.size > 0) {
    const long n = sys::send(fd, data.data, data.size, sys::kMsgNosignal);
    if (n > 0) {
      data.data += n;
      data.size -= static_cast<size_t>(n);
    } else if (n == -sys::kEagain) {
      if (!wait_for(fd, sys::kPollOut, deadline_ms)) fail_no_answer(conf);
    } else if (n != -sys::kEintr) {
      return false;
    }
  }
  return true;
}

// Reads up to EOF; a reset counts as EOF (what came before it stands).
void read_to_eof(int fd, Buffer& got, long deadline_ms, const Json& conf) {
  for (;;) {
    if (!got.reserve(16384)) return;
    const long n = sys::read(fd, got.data + got.size, got.cap - got.size);
    if (n > 0) {
      got.size += static_cast<size_t>(n);
    } else if (n == -sys::kEagain) {
      if (!wait_for(fd, sys::kPollIn, deadline_ms)) fail_no_answer(conf);
    } else if (n != -sys::kEintr) {
      return;
    }
  }
}

// The agent's reply (frame.hpp): when it ran the call, writes out what the plugin printed and
// exits. Returns when it did not run it.
void finish(Bytes got, const Json& conf) {
  const Reply reply = decode_reply(got);
  if (reply.kind == Reply::kNotRun) return;
  if (reply.kind == Reply::kCutShort) {
    // It began the call ("run") or ran it, and its answer was lost: it died in the call (a
    // crash, an abort) or replying. Running it here would run it twice; the runtime's DEL or
    // retry cleans up (ADD and DEL are idempotent).
    Buffer msg;
    msg.append("weir-agent began the ");
    msg.append(kPlugin.name);
    msg.append(" call and its answer was cut short (it died in the call?)");
    fail(conf, 11, msg.bytes());
  }
  write_all(1, reply.out);
  write_all(2, reply.err);
  sys::exit(reply.exit_code);
}

[[noreturn]] void run() {
  const char* command = getenv("CNI_COMMAND");
  const bool forward = command != nullptr && forwarded({command, length(command)}) &&
                       netns_path_portable(getenv("CNI_NETNS"));
  if (!forward) exec_local(nullptr);  // stdin untouched
  Buffer input;
  if (!read_all(0, input)) {
    Buffer msg;
    msg.append(kPlugin.name);
    msg.append(": read the config: Cannot allocate memory");
    fail(Json::parse(input.bytes()), 5, msg.bytes());
  }
  const Json conf = Json::parse(input.bytes());
  Text dir, socket_path;
  if (!kPlugin.agent_dir(conf, dir) || !data_file(dir.bytes(), kSocketFile, socket_path)) {
    exec_local(&input);
  }

  // One buffer, sent at once: in two sends the agent could wake for the first and sleep again
  // before the second. Namespaces unknown: sent empty, and the agent runs no call of ours.
  Text namespaces;
  if (!append_namespace(namespaces, "/proc/thread-self/ns/net") || !namespaces.append({",", 1}) ||
      !append_namespace(namespaces, "/proc/thread-self/ns/mnt")) {
    namespaces.size = 0;
  }
  Buffer request;
  if (!encode_call(request, kPlugin, namespaces.bytes(), getenv, input.bytes())) exec_local(&input);
  const long deadline = sys::now_ms() + kCallTimeoutMs;
  const int fd = connect_agent(socket_path, deadline, conf);
  if (fd < 0) exec_local(&input);
  if (!send_all(fd, request.bytes(), deadline, conf)) exec_local(&input);
  // Not needed by the length-framed request; an agent of the first build read up to EOF.
  sys::shutdown(fd, sys::kShutWr);
  Buffer& reply = request;  // sent: its memory takes the reply
  reply.size = 0;
  read_to_eof(fd, reply, deadline, conf);
  finish(reply.bytes(), conf);
  sys::close(fd);
  exec_local(&input);
}

}  // namespace

}  // namespace weir::agent::proto

#if defined(WEIR_FRONT_LIBC) || defined(WEIR_FRONT_NOLIBC)
// The C library's or nolibc's _start calls it.
int main(int, char**, char** envp) {
  weir::agent::proto::environment = envp;
  weir::agent::proto::run();
}
#endif
#if !defined(WEIR_FRONT_LIBC)
#if !defined(WEIR_FRONT_NOLIBC)
// The process starts here, with argc, argv, NULL, envp, NULL on the stack. `used`: only the
// assembly below calls it, which link-time optimization does not see.
extern "C" [[noreturn, gnu::used]] void weir_front_start(long* stack) {
  const long argc = stack[0];
  weir::agent::proto::environment = reinterpret_cast<char**>(stack + 1 + argc + 1);
  weir::agent::proto::run();
}

#if defined(__x86_64__)
__asm__(
    ".text\n.global _start\n_start:\n"
    "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call weir_front_start\n  hlt\n");
#elif defined(__aarch64__)
__asm__(
    ".text\n.global _start\n_start:\n"
    "  mov x29, #0\n  mov x30, #0\n  mov x0, sp\n  bl weir_front_start\n  brk #0\n");
#endif
#endif  // !WEIR_FRONT_NOLIBC

// What the compiler may call for copies and zeroing even here (GCC documents it).
extern "C" {
[[gnu::used]] void* memcpy(void* to, const void* from, size_t n) {
  auto* d = static_cast<unsigned char*>(to);
  const auto* s = static_cast<const unsigned char*>(from);
  for (size_t i = 0; i < n; ++i) d[i] = s[i];
  return to;
}
[[gnu::used]] void* memmove(void* to, const void* from, size_t n) {
  auto* d = static_cast<unsigned char*>(to);
  const auto* s = static_cast<const unsigned char*>(from);
  if (d < s) {
    for (size_t i = 0; i < n; ++i) d[i] = s[i];
  } else {
    for (size_t i = n; i > 0; --i) d[i - 1] = s[i - 1];
  }
  return to;
}
[[gnu::used]] void* memset(void* to, int c, size_t n) {
  auto* d = static_cast<unsigned char*>(to);
  for (size_t i = 0; i < n; ++i) d[i] = static_cast<unsigned char>(c);
  return to;
}
[[gnu::used]] int memcmp(const void* a, const void* b, size_t n) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}
}
#endif  // !WEIR_FRONT_LIBC
