#include "agent/proto/json.hpp"

namespace weir::agent::proto {

namespace {

constexpr int kMaxDepth = 256;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

const char* skip_space(const char* p, const char* end) {
  while (p < end && is_space(*p)) ++p;
  return p;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The four hex digits at p as a number; -1 if they are not.
long hex4(const char* p, const char* end) {
  if (end - p < 4) return -1;
  long v = 0;
  for (int i = 0; i < 4; ++i) {
    const int d = hex_value(p[i]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// Each scan_* takes p at the value's first byte and returns one past its end, nullptr when the
// bytes are not that value.
const char* scan_value(const char* p, const char* end, int depth, Json::Kind* kind);

const char* scan_string(const char* p, const char* end) {
  ++p;  // the opening quote
  while (p < end) {
    const char c = *p;
    if (c == '"') return p + 1;
    if (static_cast<unsigned char>(c) < 0x20) return nullptr;
    if (c != '\\') {
      ++p;
      continue;
    }
    if (++p == end) return nullptr;
    switch (*p) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        ++p;
        break;
      case 'u': {
        // As nlohmann::json: a high surrogate only with a low one after it, and no low alone.
        const long cp = hex4(p + 1, end);
        if (cp < 0 || (cp >= 0xdc00 && cp <= 0xdfff)) return nullptr;
        p += 5;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          const long low = end - p >= 2 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, end) : -1;
          if (low < 0xdc00 || low > 0xdfff) return nullptr;
          p += 6;
        }
        break;
      }
      default:
        return nullptr;
    }
  }
  return nullptr;
}

const char* scan_digits(const char* p, const char* end) {
  const char* from = p;
  while (p < end && is_digit(*p)) ++p;
  return p == from ? nullptr : p;
}

const char* scan_number(const char* p, const char* end) {
  if (*p == '-') ++p;
  if (p == end) return nullptr;
  if (*p == '0') {
    ++p;
  } else if (!(p = scan_digits(p, end))) {
    return nullptr;
  }
  if (p < end && *p == '.' && !(p = scan_digits(p + 1, end))) return nullptr;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (!(p = scan_digits(p, end))) return nullptr;
  }
  return p;
}

const char* scan_word(const char* p, const char* end, const char* word) {
  for (; *word; ++word, ++p) {
    if (p == end || *p != *word) return nullptr;
  }
  return p;
}

// '{' or '[' up to its closing bracket; `depth` counts the containers around it.
const char* scan_container(const char* p, const char* end, int depth, bool object) {
  if (depth >= kMaxDepth) return nullptr;  // this one would be the 257th level
  const char close = object ? '}' : ']';
  p = skip_space(p + 1, end);
  if (p < end && *p == close) return p + 1;
  for (;;) {
    Json::Kind kind;
    if (object) {
      if (p == end || *p != '"' || !(p = scan_string(p, end))) return nullptr;
      p = skip_space(p, end);
      if (p == end || *p != ':') return nullptr;
      p = skip_space(p + 1, end);
    }
    if (!(p = scan_value(p, end, depth + 1, &kind))) return nullptr;
    p = skip_space(p, end);
    if (p == end) return nullptr;
    if (*p == close) return p + 1;
    if (*p != ',') return nullptr;
    p = skip_space(p + 1, end);
  }
}

const char* scan_value(const char* p, const char* end, int depth, Json::Kind* kind) {
  if (p == end) return nullptr;
  switch (*p) {
    case '{':
      *kind = Json::kObject;
      return scan_container(p, end, depth, true);
    case '[':
      *kind = Json::kArray;
      return scan_container(p, end, depth, false);
    case '"':
      *kind = Json::kString;
      return scan_string(p, end);
    case 't':
      *kind = Json::kTrue;
      return scan_word(p, end, "true");
    case 'f':
      *kind = Json::kFalse;
      return scan_word(p, end, "false");
    case 'n':
      *kind = Json::kNull;
      return scan_word(p, end, "null");
    default:
      *kind = Json::kNumber;
      return scan_number(p, end);
  }
}

// The value at p, in a document already checked whole.
Json value_at(const char* p, const char* end) {
  Json v;
  v.begin = p;
  v.end = scan_value(p, end, 0, &v.kind);
  if (v.end == nullptr) v.kind = Json::kNone;
  return v;
}

bool put_utf8(Text& out, long cp) {
  char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = static_cast<char>(cp);
    n = 1;
  } else if (cp < 0x800) {
    b[0] = static_cast<char>(0xc0 | (cp >> 6));
    b[1] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = static_cast<char>(0xe0 | (cp >> 12));
    b[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    b[2] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    b[0] = static_cast<char>(0xf0 | (cp >> 18));
    b[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    b[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    b[3] = static_cast<char>(0x80 | (cp & 0x3f));
    n = 4;
  }
  return out.append({b, n});
}

}  // namespace

size_t length(const char* text) {
  size_t n = 0;
  while (text[n] != '\0') ++n;
  return n;
}

bool Bytes::equals(const char* text) const {
  for (size_t i = 0; i < size; ++i) {
    if (text[i] == '\0' || text[i] != data[i]) return false;
  }
  return text[size] == '\0';
}

bool Bytes::starts_with(const char* text) const {
  for (size_t i = 0; text[i] != '\0'; ++i) {
    if (i == size || text[i] != data[i]) return false;
  }
  return true;
}

bool Text::assign(Bytes b) {
  size = 0;
  return append(b);
}

bool Text::append(Bytes b) {
  if (b.size > kCapacity - size) return false;
  for (size_t i = 0; i < b.size; ++i) data[size + i] = b.data[i];
  size += b.size;
  return true;
}

Json Json::parse(Bytes text) {
  const char* end = text.data + text.size;
  const char* p = text.data;
  if (text.starts_with("\xEF\xBB\xBF")) p += 3;  // a UTF-8 byte order mark, which nlohmann skips
  Json v = value_at(skip_space(p, end), end);
  if (v.kind != kNone && skip_space(v.end, end) != end) v.kind = kNone;
  return v;
}

Json Json::member(const char* key) const {
  Json found;
  if (kind != kObject) return found;
  const char* p = skip_space(begin + 1, end);
  while (p < end && *p == '"') {
    Json name = value_at(p, end);
    p = skip_space(name.end, end);  // at ':'
    Json value = value_at(skip_space(p + 1, end), end);
    if (name.string_equals(key)) found = value;
    p = skip_space(value.end, end);
    if (*p != ',') break;
    p = skip_space(p + 1, end);
  }
  return found;
}

bool Json::empty_object() const {
  return kind == kObject && *skip_space(begin + 1, end) == '}';
}

bool Json::decode(Text& out) const {
  out.size = 0;
  if (kind != kString) return false;
  const char* p = begin + 1;
  const char* last = end - 1;  // the closing quote
  while (p < last) {
    const char* run = p;
    while (p < last && *p != '\\') ++p;
    if (!out.append({run, static_cast<size_t>(p - run)})) return false;
    if (p == last) break;
    const char e = p[1];
    p += 2;
    char c;
    switch (e) {
      case 'b':
        c = '\b';
        break;
      case 'f':
        c = '\f';
        break;
      case 'n':
        c = '\n';
        break;
      case 'r':
        c = '\r';
        break;
      case 't':
        c = '\t';
        break;
      case 'u': {
        long cp = hex4(p, last);
        p += 4;
        if (cp >= 0xdc00 && cp <= 0xdfff) return false;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          const long low = p + 1 < last && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, last) : -1;
          if (low < 0xdc00 || low > 0xdfff) return false;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          p += 6;
        }
        if (!put_utf8(out, cp)) return false;
        continue;
      }
      default:
        c = e;  // '"', '\\', '/'
    }
    if (!out.append({&c, 1})) return false;
  }
  return true;
}

bool Json::string_equals(const char* text) const {
  if (kind != kString) return false;
  // Most strings have no escape: compared in place.
  const Bytes raw{begin + 1, static_cast<size_t>(end - begin - 2)};
  bool escaped = false;
  for (size_t i = 0; i < raw.size; ++i) escaped = escaped || raw.data[i] == '\\';
  if (!escaped) return raw.equals(text);
  Text decoded;
  return decode(decoded) && decoded.bytes().equals(text);
}

}  // namespace weir::agent::proto
