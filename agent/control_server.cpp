#include "agent/control_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/client/call.hpp"
#include "agent/dns_service.hpp"
#include "agent/log.hpp"
#include "agent/plugin_host.hpp"
#include "agent/proto/frame.hpp"
#include "lib/store/data_dir.hpp"

namespace weir::agent {

namespace {

// What a plugin sent: a call (frame.hpp) read with its whole body, `complete` when it came in
// time, well formed and within bounds; anything else as its first line ("sync …\n").
struct Request {
  std::string bytes;
  proto::Head kind = proto::Head::kIncomplete;
  proto::CallHead head;
  bool complete = false;
};

Request read_request(int conn) {
  const auto deadline = Clock::now() + std::chrono::seconds(1);
  Request req;
  char buf[16384];
  for (;;) {
    req.kind = proto::decode_head({req.bytes.data(), req.bytes.size()}, req.head);
    if (req.kind == proto::Head::kNotACall || req.kind == proto::Head::kMalformed) return req;
    if (req.kind == proto::Head::kCall) {
      const size_t want = req.head.body_at + req.head.body_size;
      if (req.bytes.size() >= want) {
        req.complete = req.bytes.size() == want;
        return req;
      }
    }
    pollfd p{conn, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return req;
    const ssize_t n = ::read(conn, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return req;
    req.bytes.append(buf, static_cast<size_t>(n));
  }
}

// Whether the caller hung up (killed, or it gave up waiting): its call is not run, it will not
// see the result, and the runtime then treats the ADD as failed.
bool caller_gone(int conn) {
  pollfd p{conn, POLLOUT, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

// Whether the executable we run from was deleted or replaced (a package upgrade renames a new
// file over it): the kernel then shows our path with " (deleted)".
bool binary_replaced() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf));
  return n > 0 && std::string_view(buf, static_cast<size_t>(n)).ends_with(" (deleted)");
}

std::string_view view(proto::Bytes b) {
  return {b.data, b.size};
}

// std::string as frame.hpp's encoders write.
struct StringOut {
  std::string& s;
  bool append(proto::Bytes b) {
    s.append(b.data, b.size);
    return true;
  }
};

// A plugin call → its reply ("" when its caller is gone: no reply, no call).
std::string serve_call(const Request& request, int conn, PluginHost& host, const std::string& own_ns) {
  const proto::Plugin& plugin = *request.head.plugin;
  // An upgrade replaced our binary: the caller runs the new plugin itself, and once we are
  // idle we exit, so that its next ADD starts an agent of the new version.
  if (binary_replaced()) {
    log_once("weir-agent was replaced on disk: plugin calls run in the caller until it is restarted");
    host.stop_calls();
    return proto::kNotRun;
  }
  if (&plugin == &proto::kIpam) host.keep_for_grace();
  // Cut short (too slow, too big, malformed): not run here, so the caller may run it.
  if (request.kind != proto::Head::kCall || !request.complete) return proto::kNotRun;
  // The plugin works on the links, routes and paths it sees (IPAM picks a subnet by the
  // host's routes; weir-bridge makes the bridge and the veths): the caller's namespaces.
  const std::string_view ns = view(request.head.namespaces);
  if (ns.empty() || ns != own_ns) {
    log_once("calls from other namespaces run there: this agent serves " + own_ns);
    return proto::kNotRun;
  }
  PluginCall call;
  proto::Bytes config;
  const proto::Bytes body{request.bytes.data() + request.head.body_at, request.head.body_size};
  const bool well_formed = proto::decode_body(
      body, [&](proto::Bytes name, proto::Bytes value) { call.env.emplace(view(name), view(value)); },
      config);
  if (!well_formed) return proto::kNotRun;
  call.stdin_bytes = view(config);
  // ADD and DEL only, as the front end sends them: the rest runs in the plugin process.
  const auto command = call.env.find("CNI_COMMAND");
  if (command == call.env.end() || !proto::forwarded({command->second.data(), command->second.size()})) {
    return proto::kNotRun;
  }
  if (caller_gone(conn)) return "";
  // From here on the caller does not run the call itself, whatever happens to us: a worker that
  // dies in it leaves a caller with "run" and no "done", which fails with code 11 (frame.hpp).
  std::string reply;
  StringOut out{reply};
  proto::encode_run(out, request.head);
  if (!reply.empty() && !send_all(conn, reply, Clock::now() + std::chrono::seconds(1))) return "";
  reply.clear();
  auto r = host.run(plugin, call);
  if (!r) return proto::kNotRun;
  proto::encode_done(out, r->exit_code, {r->out.data(), r->out.size()}, {r->err.data(), r->err.size()});
  return reply;
}

}  // namespace

Expected<UniqueFd> listen_control(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fail(cni::sys_error(errno, "control socket"));
  const auto addr = socket_address(path);
  if (!addr) return fail(cni::invalid_config("socket path too long: " + path));
  ::unlink(path.c_str());  // a stale socket of an agent that died; we hold the lock now
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    return fail(cni::sys_error(errno, "bind \"" + path + "\""));
  }
  ::fchmodat(AT_FDCWD, path.c_str(), 0600, AT_SYMLINK_NOFOLLOW);
  if (::listen(fd.get(), 64) != 0) return fail(cni::sys_error(errno, "listen \"" + path + "\""));
  return fd;
}

bool peer_trusted(int conn) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  return ::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
         store::trusted_uid(cred.uid);
}

bool ControlServer::serve(int conn) {
  const Request request = read_request(conn);
  const std::string& req = request.bytes;
  if (req.empty()) return false;
  bool synced = false;
  std::string reply;
  if (req.starts_with("sync")) {
    // "sync <netns>": the DNS listeners go into the netns we run in, which must be the
    // plugin's (an older plugin sends no netns).
    const std::string netns = req.substr(4, req.find('\n') - 4);
    if (netns.size() > 1 && netns.substr(1) != own_netns) {
      reply = "error " + std::to_string(static_cast<int>(cni::Code::kIoFailure)) +
              " the weir-agent of this data dir runs in another netns (" + own_netns +
              "); serve each netns from a data dir of its own\n";
    } else {
      synced = true;
      auto ok = dns.sync();
      reply = ok ? "ok " + std::to_string(++generation) + "\n"
                 : "error " + std::to_string(static_cast<int>(ok.error().code)) + " " +
                       ok.error().msg + "\n";
      if (!ok) log("sync: " + ok.error().msg);
    }
  } else if (request.head.plugin != nullptr) {
    const uint64_t syncs = dns.syncs();
    reply = serve_call(request, conn, host, own_ns);
    synced = dns.syncs() != syncs;  // a weir-bridge call of a DNS network
  } else {
    reply = "error 5 unknown request\n";
  }
  // Bounded: a caller that stops reading must not stop the agent.
  (void)send_all(conn, reply, Clock::now() + std::chrono::seconds(1));
  return synced;
}

}  // namespace weir::agent
