#include "agent/proto/frame.hpp"

namespace weir::agent::proto {

namespace {

// A decimal number of at most 12 digits up to `stop`, advancing p; false if there is none.
bool parse_number(const char*& p, const char* end, char stop, unsigned long& v) {
  v = 0;
  const char* from = p;
  while (p < end && *p >= '0' && *p <= '9' && p - from < 12) {
    v = v * 10 + static_cast<unsigned long>(*p++ - '0');
  }
  return p > from && p < end && *p++ == stop;
}

}  // namespace

bool forwarded(Bytes command) {
  return command.equals("ADD") || command.equals("DEL");
}

Head decode_head(Bytes received, CallHead& head) {
  head = {};
  size_t eol = 0;
  while (eol < received.size && received.data[eol] != '\n') ++eol;
  if (eol == received.size) {
    return received.size > kMaxHeader ? Head::kNotACall : Head::kIncomplete;
  }
  // "<word><version> ": a version we do not speak is no call of ours (an older agent said
  // "error" to a newer front end's, which then ran the call itself).
  size_t from = 0;
  for (const Plugin* p : kPlugins) {
    if (!received.starts_with(p->request)) continue;
    const char* at = received.data + length(p->request);
    unsigned long version = 0;
    if (parse_number(at, received.data + eol, ' ', version) && version >= 1 && version <= kVersion) {
      head.plugin = p;
      head.version = static_cast<unsigned>(version);
      from = static_cast<size_t>(at - received.data);
    }
  }
  if (head.plugin == nullptr) return Head::kNotACall;
  if (eol > kMaxHeader) return Head::kMalformed;
  // "<word><version> <namespaces> <body bytes>": the namespaces hold no space.
  size_t number = eol;  // where the body's length starts: after the line's last space
  while (number > from && received.data[number - 1] != ' ') --number;
  if (number <= from) return Head::kMalformed;
  const char* p = received.data + number;
  unsigned long body = 0;
  if (!parse_number(p, received.data + eol + 1, '\n', body) || body > kMaxBody) {
    return Head::kMalformed;
  }
  head.namespaces = {received.data + from, number - 1 - from};
  for (size_t i = 0; i < head.namespaces.size; ++i) {
    if (head.namespaces.data[i] == ' ') return Head::kMalformed;
  }
  head.body_at = eol + 1;
  head.body_size = body;
  return Head::kCall;
}

Reply decode_reply(Bytes got) {
  Reply r;
  if (got.starts_with(kRun)) {
    r.began = true;
    got = {got.data + length(kRun), got.size - length(kRun)};
    // Taken, then handed back before anything ran (its store could not be opened).
    if (got.equals(kNotRun)) return r;
    r.kind = Reply::kCutShort;
  }
  if (!got.starts_with("done ")) return r;
  const char* p = got.data + 5;
  const char* end = got.data + got.size;
  unsigned long code = 0, out_len = 0;
  r.kind = Reply::kCutShort;
  if (!parse_number(p, end, ' ', code) || !parse_number(p, end, '\n', out_len) ||
      out_len > static_cast<size_t>(end - p) || code > 255) {
    return r;
  }
  r.kind = Reply::kDone;
  r.exit_code = static_cast<int>(code);
  r.out = {p, out_len};
  r.err = {p + out_len, static_cast<size_t>(end - p) - out_len};
  return r;
}

}  // namespace weir::agent::proto
