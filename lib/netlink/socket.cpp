// The rtnetlink socket and the helpers every request of lib/netlink shares: errno translation,
// address conversion, sending and waiting for the ACK, dumps.
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>
#include <utility>

#include "lib/netlink/internal.hpp"

namespace weir::netlink {
namespace {

int on_msg_cb(nl_msg* msg, void* arg) {
  (*static_cast<const std::function<void(nl_msg*)>*>(arg))(msg);
  return NL_OK;
}

}  // namespace

namespace detail {

int nle_to_errno(int nle) {
  switch (nle < 0 ? -nle : nle) {
    case NLE_EXIST:
      return EEXIST;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return ENODEV;
    case NLE_PERM:
      return EPERM;
    case NLE_NOACCESS:
      return EACCES;
    case NLE_NOADDR:
      return EADDRNOTAVAIL;
    case NLE_INVAL:
    case NLE_MISSING_ATTR:
    case NLE_NOATTR:
    case NLE_AF_MISMATCH:
    case NLE_IMMUTABLE:
      return EINVAL;
    case NLE_BUSY:
      return EBUSY;
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_MSG_OVERFLOW:
      return ENOBUFS;
    case NLE_AGAIN:
    case NLE_DUMP_INTR:
      return EAGAIN;  // both mean: ask again
    case NLE_INTR:
      return EINTR;
    case NLE_BAD_SOCK:
      return EBADF;
    case NLE_RANGE:
      return ERANGE;
    case NLE_MSGSIZE:
    case NLE_ATTRSIZE:
      return EMSGSIZE;
    case NLE_OPNOTSUPP:
    case NLE_MSGTYPE_NOSUPPORT:
      return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT:
      return EAFNOSUPPORT;
    case NLE_PROTO_MISMATCH:
      return EPROTONOSUPPORT;
    case NLE_SEQ_MISMATCH:
    case NLE_MSG_TRUNC:
    case NLE_MSG_TOOSHORT:
    case NLE_PARSE_ERR:
      return EBADMSG;
    default:
      return EIO;
  }
}

std::string ifindex_str(int ifindex) {
  return "ifindex " + std::to_string(ifindex);
}

int to_af(net::Family f) {
  return f == net::Family::kV4 ? AF_INET : AF_INET6;
}

std::optional<net::IpAddr> to_ip(nl_addr* a) {
  if (a == nullptr) return std::nullopt;
  const int af = nl_addr_get_family(a);
  const unsigned len = nl_addr_get_len(a);
  if (af == AF_INET && len == 4) {
    return net::IpAddr::from_bytes(net::Family::kV4, nl_addr_get_binary_addr(a));
  }
  if (af == AF_INET6 && len == 16) {
    return net::IpAddr::from_bytes(net::Family::kV6, nl_addr_get_binary_addr(a));
  }
  return std::nullopt;
}

AddrPtr to_nl_addr(const net::IpAddr& ip, int prefix_len) {
  AddrPtr a(nl_addr_build(to_af(ip.family()), ip.data(), ip.size()));
  if (a) nl_addr_set_prefixlen(a.get(), prefix_len);
  return a;
}

cni::Error nomem(std::string_view what) {
  return cni::sys_error(ENOMEM, what);
}

cni::Error nl_error(Socket& sock, int rc, std::string_view what) {
  return cni::sys_error(sock.errno_of(rc), what);
}

int send_sync(Socket& sock, MsgPtr msg) {
  return nl_send_sync(sock.native(), msg.release());
}

int request(Socket& sock, MsgPtr msg) {
  const int rc = send_sync(sock, std::move(msg));
  return rc < 0 ? sock.errno_of(rc) : 0;
}

int request(Socket& sock, const MessageBytes& bytes) {
  auto* nlh = reinterpret_cast<nlmsghdr*>(const_cast<uint8_t*>(bytes.data()));
  if (bytes.size() < sizeof(nlmsghdr) || nlh->nlmsg_len > bytes.size()) return EINVAL;
  // nlmsg_convert copies: the builder's bytes are sent as they are.
  MsgPtr msg(nlmsg_convert(nlh));
  if (!msg) return ENOMEM;
  return request(sock, std::move(msg));
}

MessageBytes bytes_of(nl_msg* msg) {
  const nlmsghdr* nlh = nlmsg_hdr(msg);
  const auto* p = reinterpret_cast<const uint8_t*>(nlh);
  return MessageBytes(p, p + nlh->nlmsg_len);
}

MsgPtr new_msg(int type, int flags, const void* hdr, size_t hdr_len) {
  MsgPtr msg(nlmsg_alloc_simple(type, flags));
  if (!msg) return msg;
  if (nlmsg_append(msg.get(), const_cast<void*>(hdr), hdr_len, NLMSG_ALIGNTO) < 0) return {};
  return msg;
}

nlattr* nest_start(nl_msg* msg, int type) {
  return nla_nest_start(msg, type | NLA_F_NESTED);
}

Expected<void> dump_msgs(Socket& sock, int type, const void* hdr, size_t hdr_len,
                         const std::function<void()>& restart,
                         const std::function<void(nl_msg*)>& on_msg, std::string_view what) {
  // The kernel flags a dump that raced with a change (NLM_F_DUMP_INTR); try again then.
  constexpr int kAttempts = 3;
  int rc = 0;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    restart();
    MsgPtr msg(nlmsg_alloc_simple(type, NLM_F_DUMP));
    if (!msg) return fail(nomem(what));
    if (nlmsg_append(msg.get(), const_cast<void*>(hdr), hdr_len, NLMSG_ALIGNTO) < 0) {
      return fail(nomem(what));
    }
    if (rc = nl_send_auto(sock.native(), msg.get()); rc < 0) return fail(nl_error(sock, rc, what));
    CbPtr base(nl_socket_get_cb(sock.native()));  // a reference: put by CbPtr
    CbPtr cb(base ? nl_cb_clone(base.get()) : nullptr);
    if (!cb) return fail(nomem(what));
    nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_msg_cb, const_cast<void*>(static_cast<const void*>(&on_msg)));
    rc = nl_recvmsgs(sock.native(), cb.get());
    if (rc >= 0) return {};
    if (rc != -NLE_DUMP_INTR) break;
  }
  return fail(nl_error(sock, rc, what));
}

Expected<void> dump(Socket& sock, int type, const void* hdr, size_t hdr_len,
                    const std::function<void()>& restart,
                    const std::function<void(nl_object*)>& on_object, std::string_view what) {
  auto parsed = [](nl_object* obj, void* arg) { (*static_cast<const std::function<void(nl_object*)>*>(arg))(obj); };
  // A reply libnl cannot parse is skipped rather than failing the whole listing.
  return dump_msgs(
      sock, type, hdr, hdr_len, restart,
      [&](nl_msg* msg) { nl_msg_parse(msg, parsed, const_cast<void*>(static_cast<const void*>(&on_object))); },
      what);
}

Expected<void> get_one(Socket& sock, MsgPtr msg, const std::function<void(nl_msg*)>& on_msg,
                       std::string_view what) {
  if (int rc = nl_send_auto(sock.native(), msg.get()); rc < 0) return fail(nl_error(sock, rc, what));
  CbPtr base(nl_socket_get_cb(sock.native()));  // a reference: put by CbPtr
  CbPtr cb(base ? nl_cb_clone(base.get()) : nullptr);
  if (!cb) return fail(nomem(what));
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_msg_cb, const_cast<void*>(static_cast<const void*>(&on_msg)));
  // The answer (or the kernel's error), then the ACK that follows an answer.
  if (int rc = nl_recvmsgs(sock.native(), cb.get()); rc < 0) return fail(nl_error(sock, rc, what));
  if (int rc = nl_wait_for_ack(sock.native()); rc < 0) return fail(nl_error(sock, rc, what));
  return {};
}

}  // namespace detail

// ---- Socket

struct Socket::Impl {
  detail::SockPtr sk;
  // The errno of the last NLMSG_ERROR the kernel sent on this socket, until errno_of() takes it.
  int kernel_errno = 0;
};

namespace {

constexpr size_t kReadBuffer = 65536;

int on_kernel_error(sockaddr_nl*, nlmsgerr* e, void* arg) {
  static_cast<Socket::Impl*>(arg)->kernel_errno = -e->error;
  return NL_STOP;  // libnl then fails the call as it would without this hook
}

}  // namespace

Socket::Socket(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Socket::Socket(Socket&& other) noexcept = default;
Socket& Socket::operator=(Socket&& other) noexcept = default;
Socket::~Socket() = default;

nl_sock* Socket::native() const {
  return impl_->sk.get();
}

int Socket::errno_of(int nle_rc) {
  const int kernel = std::exchange(impl_->kernel_errno, 0);
  return kernel != 0 ? kernel : detail::nle_to_errno(nle_rc);
}

Expected<Socket> Socket::open() {
  constexpr std::string_view what = "open rtnetlink socket";
  auto impl = std::make_unique<Impl>();
  impl->sk.reset(nl_socket_alloc());
  if (!impl->sk) return fail(detail::nomem(what));
  // libnl folds most kernel errnos into NLE_FAILURE; keep the kernel's own. The callback lives
  // in the socket's default handlers, which every libnl request on it clones.
  detail::CbPtr cb(nl_socket_get_cb(impl->sk.get()));
  if (!cb) return fail(detail::nomem(what));
  nl_cb_err(cb.get(), NL_CB_CUSTOM, on_kernel_error, impl.get());
  // nl_connect() opens the fd with SOCK_CLOEXEC, so exec'd IPAM plugins do not inherit it.
  if (int rc = nl_connect(impl->sk.get(), NETLINK_ROUTE); rc < 0) {
    return fail(cni::sys_error(detail::nle_to_errno(rc), what));
  }
  // Each reply read once: without a buffer size, libnl peeks at every message for its size
  // first, two recvmsg calls per reply and per ACK. The kernel sizes a dump's batches to the
  // reader's largest read, at most 32 KiB, unless one message needs more (a link with VF info,
  // which nothing here asks for). A reply over 64 KiB would fail with EBADMSG (libnl's
  // NLE_MSG_TRUNC), not be read in part; each request opens its socket, so none is left behind.
  if (int rc = nl_socket_set_msg_buf_size(impl->sk.get(), kReadBuffer); rc < 0) {
    return fail(cni::sys_error(detail::nle_to_errno(rc), what));
  }
  return Socket(std::move(impl));
}

Expected<uint64_t> netns_cookie(const Socket& sock) {
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (::getsockopt(nl_socket_get_fd(sock.native()), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) {
    return fail(cni::sys_error(errno, "read the netns cookie"));
  }
  return cookie;
}

Expected<int> netns_id(int ns_fd) {
  // A plain rtnetlink socket of its own: libnl has no request for it.
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return fail(cni::sys_error(errno, "netlink socket"));
  struct {
    nlmsghdr h;
    rtgenmsg g;
    char pad[NLMSG_ALIGN(sizeof(rtgenmsg)) - sizeof(rtgenmsg)];
    nlattr a;
    uint32_t fd;
  } req{};
  req.h.nlmsg_len = sizeof(req);
  req.h.nlmsg_type = RTM_GETNSID;
  req.h.nlmsg_flags = NLM_F_REQUEST;
  req.h.nlmsg_seq = 1;
  req.g.rtgen_family = AF_UNSPEC;
  req.a.nla_len = sizeof(req.a) + sizeof(req.fd);
  req.a.nla_type = NETNSA_FD;
  req.fd = static_cast<uint32_t>(ns_fd);
  int id = -1;
  int err = 0;
  if (::send(fd, &req, sizeof(req), 0) != static_cast<ssize_t>(sizeof(req))) {
    err = errno;
  } else {
    alignas(nlmsghdr) char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0) err = errno;
    auto* h = reinterpret_cast<nlmsghdr*>(buf);
    if (n >= static_cast<ssize_t>(sizeof(nlmsghdr)) && h->nlmsg_type == NLMSG_ERROR) {
      err = -static_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
    } else if (n >= static_cast<ssize_t>(sizeof(nlmsghdr)) && h->nlmsg_type == RTM_NEWNSID) {
      nlattr* tb[NETNSA_MAX + 1];
      if (nlmsg_parse(h, sizeof(rtgenmsg), tb, NETNSA_MAX, nullptr) == 0 && tb[NETNSA_NSID]) {
        id = nla_get_s32(tb[NETNSA_NSID]);
      }
    }
  }
  ::close(fd);
  if (err != 0) return fail(cni::sys_error(err, "netns id"));
  return id;
}

Expected<Socket> Socket::open_in(const netns::Handle& ns) {
  // A netlink socket belongs to the netns it was created in, for its whole life.
  auto sock = netns::run_in(ns, [] { return Socket::open(); });
  if (!sock) return fail(std::move(sock.error()).context("in netns " + detail::quoted(ns.path())));
  return sock;
}

}  // namespace weir::netlink
