// The part of libmnl's API that weir (nft.cpp) and libnftnl's archive call, for static builds:
// Debian ships libmnl only as a shared library, and one shared library makes the whole weir
// executable load the C library dynamically — ~3x the page faults of a static start, paid by
// every plugin call (bench/startup). Same contracts as libmnl's (libmnl.h declares them): the
// netlink message and attribute layout of linux/netlink.h, errno set on failure.
#include <libmnl/libmnl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

struct mnl_socket {
  int fd;
  sockaddr_nl addr;
};

struct mnl_nlmsg_batch {
  char* buf;
  size_t limit;
  size_t buflen;
  char* cur;
  bool overflow;
};

namespace {

char* tail(const nlmsghdr* nlh) {
  return reinterpret_cast<char*>(const_cast<nlmsghdr*>(nlh)) + MNL_ALIGN(nlh->nlmsg_len);
}

int fail(int err) {
  errno = err;
  return -1;
}

}  // namespace

extern "C" {

// ---- sockets

mnl_socket* mnl_socket_open2(int bus, int flags) {
  auto* nl = static_cast<mnl_socket*>(std::calloc(1, sizeof(mnl_socket)));
  if (nl == nullptr) return nullptr;
  nl->fd = ::socket(AF_NETLINK, SOCK_RAW | flags, bus);
  if (nl->fd < 0) {
    std::free(nl);
    return nullptr;
  }
  return nl;
}

mnl_socket* mnl_socket_open(int bus) { return mnl_socket_open2(bus, 0); }

int mnl_socket_bind(mnl_socket* nl, unsigned int groups, pid_t pid) {
  nl->addr.nl_family = AF_NETLINK;
  nl->addr.nl_groups = groups;
  nl->addr.nl_pid = static_cast<__u32>(pid);
  if (::bind(nl->fd, reinterpret_cast<sockaddr*>(&nl->addr), sizeof(nl->addr)) < 0) return -1;
  socklen_t len = sizeof(nl->addr);
  if (::getsockname(nl->fd, reinterpret_cast<sockaddr*>(&nl->addr), &len) < 0) return -1;
  if (len != sizeof(nl->addr) || nl->addr.nl_family != AF_NETLINK) return fail(EINVAL);
  return 0;
}

int mnl_socket_close(mnl_socket* nl) {
  const int r = ::close(nl->fd);
  std::free(nl);
  return r;
}

int mnl_socket_get_fd(const mnl_socket* nl) { return nl->fd; }

unsigned int mnl_socket_get_portid(const mnl_socket* nl) { return nl->addr.nl_pid; }

ssize_t mnl_socket_sendto(const mnl_socket* nl, const void* req, size_t siz) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  return ::sendto(nl->fd, req, siz, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
}

ssize_t mnl_socket_recvfrom(const mnl_socket* nl, void* buf, size_t siz) {
  sockaddr_nl from{};
  iovec iov{buf, siz};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof(from);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  const ssize_t n = ::recvmsg(nl->fd, &msg, 0);
  if (n < 0) return n;
  if ((msg.msg_flags & MSG_TRUNC) != 0) return fail(ENOSPC);
  if (msg.msg_namelen != sizeof(from)) return fail(EINVAL);
  return n;
}

int mnl_socket_setsockopt(const mnl_socket* nl, int type, void* buf, socklen_t len) {
  return ::setsockopt(nl->fd, SOL_NETLINK, type, buf, len);
}

// ---- messages

size_t mnl_nlmsg_size(size_t len) { return len + MNL_NLMSG_HDRLEN; }

nlmsghdr* mnl_nlmsg_put_header(void* buf) {
  std::memset(buf, 0, MNL_NLMSG_HDRLEN);
  auto* nlh = static_cast<nlmsghdr*>(buf);
  nlh->nlmsg_len = MNL_NLMSG_HDRLEN;
  return nlh;
}

void* mnl_nlmsg_put_extra_header(nlmsghdr* nlh, size_t size) {
  char* p = reinterpret_cast<char*>(nlh) + nlh->nlmsg_len;
  nlh->nlmsg_len += MNL_ALIGN(size);
  std::memset(p, 0, MNL_ALIGN(size));
  return p;
}

void* mnl_nlmsg_get_payload(const nlmsghdr* nlh) {
  return reinterpret_cast<char*>(const_cast<nlmsghdr*>(nlh)) + MNL_NLMSG_HDRLEN;
}

bool mnl_nlmsg_ok(const nlmsghdr* nlh, int len) {
  return len >= static_cast<int>(sizeof(nlmsghdr)) && nlh->nlmsg_len >= sizeof(nlmsghdr) &&
         static_cast<int>(nlh->nlmsg_len) <= len;
}

nlmsghdr* mnl_nlmsg_next(const nlmsghdr* nlh, int* len) {
  *len -= static_cast<int>(MNL_ALIGN(nlh->nlmsg_len));
  return reinterpret_cast<nlmsghdr*>(tail(nlh));
}

// A batch: messages written one after another into buf; `limit` bytes of them fit, the message
// that overflows it stays written after them (the caller's buffer has room for one more).
mnl_nlmsg_batch* mnl_nlmsg_batch_start(void* buf, size_t limit) {
  auto* b = static_cast<mnl_nlmsg_batch*>(std::malloc(sizeof(mnl_nlmsg_batch)));
  if (b == nullptr) return nullptr;
  *b = {.buf = static_cast<char*>(buf), .limit = limit, .buflen = 0,
        .cur = static_cast<char*>(buf), .overflow = false};
  return b;
}

bool mnl_nlmsg_batch_next(mnl_nlmsg_batch* b) {
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(b->cur);
  if (b->buflen + nlh->nlmsg_len > b->limit) {
    b->overflow = true;
    return false;
  }
  b->cur = b->buf + b->buflen + nlh->nlmsg_len;
  b->buflen += nlh->nlmsg_len;
  return true;
}

void mnl_nlmsg_batch_stop(mnl_nlmsg_batch* b) { std::free(b); }
size_t mnl_nlmsg_batch_size(mnl_nlmsg_batch* b) { return b->buflen; }
void* mnl_nlmsg_batch_head(mnl_nlmsg_batch* b) { return b->buf; }
void* mnl_nlmsg_batch_current(mnl_nlmsg_batch* b) { return b->cur; }
bool mnl_nlmsg_batch_is_empty(mnl_nlmsg_batch* b) { return b->buflen == 0; }

void mnl_nlmsg_batch_reset(mnl_nlmsg_batch* b) {
  if (b->overflow) {  // the message that did not fit starts the next batch
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(b->cur);
    std::memmove(b->buf, b->cur, nlh->nlmsg_len);
    b->buflen = nlh->nlmsg_len;
    b->cur = b->buf + b->buflen;
    b->overflow = false;
  } else {
    b->buflen = 0;
    b->cur = b->buf;
  }
}

// ---- attributes

uint16_t mnl_attr_get_type(const nlattr* attr) { return attr->nla_type & NLA_TYPE_MASK; }
uint16_t mnl_attr_get_len(const nlattr* attr) { return attr->nla_len; }
uint16_t mnl_attr_get_payload_len(const nlattr* attr) {
  return static_cast<uint16_t>(attr->nla_len - MNL_ATTR_HDRLEN);
}
void* mnl_attr_get_payload(const nlattr* attr) {
  return reinterpret_cast<char*>(const_cast<nlattr*>(attr)) + MNL_ATTR_HDRLEN;
}

bool mnl_attr_ok(const nlattr* attr, int len) {
  return len >= static_cast<int>(sizeof(nlattr)) && attr->nla_len >= sizeof(nlattr) &&
         static_cast<int>(attr->nla_len) <= len;
}

nlattr* mnl_attr_next(const nlattr* attr) {
  return reinterpret_cast<nlattr*>(reinterpret_cast<char*>(const_cast<nlattr*>(attr)) +
                                   MNL_ALIGN(attr->nla_len));
}

int mnl_attr_type_valid(const nlattr* attr, uint16_t maxtype) {
  return mnl_attr_get_type(attr) > maxtype ? fail(EOPNOTSUPP) : 1;
}

int mnl_attr_validate2(const nlattr* attr, enum mnl_attr_data_type type, size_t exp_len) {
  const uint16_t len = mnl_attr_get_payload_len(attr);
  const char* data = static_cast<const char*>(mnl_attr_get_payload(attr));
  if (len < exp_len) return fail(ERANGE);
  switch (type) {
    case MNL_TYPE_FLAG:
      if (len > 0) return fail(ERANGE);
      break;
    case MNL_TYPE_NUL_STRING:
      if (len == 0) return fail(ERANGE);
      if (data[len - 1] != '\0') return fail(EINVAL);
      break;
    case MNL_TYPE_STRING:
      if (len == 0) return fail(ERANGE);
      break;
    case MNL_TYPE_NESTED:  // empty, or at least one attribute header
      if (len > 0 && len < MNL_ATTR_HDRLEN) return fail(ERANGE);
      break;
    default:
      break;
  }
  if (exp_len != 0 && len > exp_len) return fail(ERANGE);
  return 0;
}

int mnl_attr_validate(const nlattr* attr, enum mnl_attr_data_type type) {
  size_t exp_len = 0;
  switch (type) {
    case MNL_TYPE_U8: exp_len = sizeof(uint8_t); break;
    case MNL_TYPE_U16: exp_len = sizeof(uint16_t); break;
    case MNL_TYPE_U32: exp_len = sizeof(uint32_t); break;
    case MNL_TYPE_U64:
    case MNL_TYPE_MSECS: exp_len = sizeof(uint64_t); break;
    default:
      if (type >= MNL_TYPE_MAX) return fail(EINVAL);
      break;
  }
  return mnl_attr_validate2(attr, type, exp_len);
}

int mnl_attr_parse_payload(const void* payload, size_t payload_len, mnl_attr_cb_t cb, void* data) {
  const char* end = static_cast<const char*>(payload) + payload_len;
  int ret = MNL_CB_OK;
  for (auto* a = static_cast<const nlattr*>(payload);
       mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a)));
       a = mnl_attr_next(a)) {
    if ((ret = cb(a, data)) <= MNL_CB_STOP) return ret;
  }
  return ret;
}

int mnl_attr_parse(const nlmsghdr* nlh, unsigned int offset, mnl_attr_cb_t cb, void* data) {
  const char* payload = static_cast<const char*>(mnl_nlmsg_get_payload(nlh)) + MNL_ALIGN(offset);
  const char* end = tail(nlh);
  if (payload >= end) return MNL_CB_OK;
  return mnl_attr_parse_payload(payload, static_cast<size_t>(end - payload), cb, data);
}

int mnl_attr_parse_nested(const nlattr* nested, mnl_attr_cb_t cb, void* data) {
  return mnl_attr_parse_payload(mnl_attr_get_payload(nested), mnl_attr_get_payload_len(nested),
                                cb, data);
}

uint8_t mnl_attr_get_u8(const nlattr* attr) {
  return *static_cast<const uint8_t*>(mnl_attr_get_payload(attr));
}
uint16_t mnl_attr_get_u16(const nlattr* attr) {
  uint16_t v;
  std::memcpy(&v, mnl_attr_get_payload(attr), sizeof(v));
  return v;
}
uint32_t mnl_attr_get_u32(const nlattr* attr) {
  uint32_t v;
  std::memcpy(&v, mnl_attr_get_payload(attr), sizeof(v));
  return v;
}
uint64_t mnl_attr_get_u64(const nlattr* attr) {
  uint64_t v;
  std::memcpy(&v, mnl_attr_get_payload(attr), sizeof(v));
  return v;
}
const char* mnl_attr_get_str(const nlattr* attr) {
  return static_cast<const char*>(mnl_attr_get_payload(attr));
}

void mnl_attr_put(nlmsghdr* nlh, uint16_t type, size_t len, const void* data) {
  auto* attr = reinterpret_cast<nlattr*>(tail(nlh));
  const auto attr_len = static_cast<uint16_t>(MNL_ATTR_HDRLEN + len);
  attr->nla_type = type;
  attr->nla_len = attr_len;
  char* payload = static_cast<char*>(mnl_attr_get_payload(attr));
  if (len > 0) std::memcpy(payload, data, len);
  std::memset(payload + len, 0, MNL_ALIGN(len) - len);
  nlh->nlmsg_len += MNL_ALIGN(attr_len);
}

void mnl_attr_put_u8(nlmsghdr* nlh, uint16_t type, uint8_t v) { mnl_attr_put(nlh, type, sizeof(v), &v); }
void mnl_attr_put_u16(nlmsghdr* nlh, uint16_t type, uint16_t v) { mnl_attr_put(nlh, type, sizeof(v), &v); }
void mnl_attr_put_u32(nlmsghdr* nlh, uint16_t type, uint32_t v) { mnl_attr_put(nlh, type, sizeof(v), &v); }
void mnl_attr_put_u64(nlmsghdr* nlh, uint16_t type, uint64_t v) { mnl_attr_put(nlh, type, sizeof(v), &v); }
void mnl_attr_put_str(nlmsghdr* nlh, uint16_t type, const char* s) {
  mnl_attr_put(nlh, type, std::strlen(s), s);
}
void mnl_attr_put_strz(nlmsghdr* nlh, uint16_t type, const char* s) {
  mnl_attr_put(nlh, type, std::strlen(s) + 1, s);
}

nlattr* mnl_attr_nest_start(nlmsghdr* nlh, uint16_t type) {
  auto* start = reinterpret_cast<nlattr*>(tail(nlh));
  start->nla_type = NLA_F_NESTED | type;
  nlh->nlmsg_len += MNL_ATTR_HDRLEN;
  return start;
}

void mnl_attr_nest_end(nlmsghdr* nlh, nlattr* start) {
  start->nla_len = static_cast<uint16_t>(tail(nlh) - reinterpret_cast<char*>(start));
}

void mnl_attr_nest_cancel(nlmsghdr* nlh, nlattr* start) {
  nlh->nlmsg_len -= static_cast<uint32_t>(tail(nlh) - reinterpret_cast<char*>(start));
}

// ---- callbacks

int mnl_cb_run(const void* buf, size_t numbytes, unsigned int seq, unsigned int portid,
               mnl_cb_t cb_data, void* data) {
  int ret = MNL_CB_OK;
  int len = static_cast<int>(numbytes);
  for (auto* nlh = static_cast<const nlmsghdr*>(buf); mnl_nlmsg_ok(nlh, len);
       nlh = mnl_nlmsg_next(nlh, &len)) {
    if (nlh->nlmsg_pid != 0 && portid != 0 && nlh->nlmsg_pid != portid) return fail(ESRCH);
    if (nlh->nlmsg_seq != 0 && seq != 0 && nlh->nlmsg_seq != seq) return fail(EPROTO);
    if ((nlh->nlmsg_flags & NLM_F_DUMP_INTR) != 0) return fail(EINTR);
    if (nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
      if (cb_data != nullptr && (ret = cb_data(nlh, data)) <= MNL_CB_STOP) return ret;
    } else if (nlh->nlmsg_type == NLMSG_DONE) {
      return MNL_CB_STOP;
    } else if (nlh->nlmsg_type == NLMSG_ERROR) {
      if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) return fail(EBADMSG);
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      // Subsystems answer with either sign; 0 is an ACK.
      errno = err->error < 0 ? -err->error : err->error;
      return err->error == 0 ? MNL_CB_STOP : MNL_CB_ERROR;
    }
    // NLMSG_NOOP, NLMSG_OVERRUN: nothing to do.
  }
  return ret;
}

}  // extern "C"
