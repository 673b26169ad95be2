// A JSON reader small enough for the front end (plugins/front/front.cpp), which links no C
// library: it checks a whole document's syntax and finds values in it, without allocating.
// Freestanding code: no std::string(_view), whose out-of-range paths need libstdc++.
#pragma once

#include <cstddef>

namespace weir::agent::proto {

// A view of bytes.
struct Bytes {
  const char* data = nullptr;
  size_t size = 0;

  bool equals(const char* text) const;
  bool starts_with(const char* text) const;
};

// The length of a NUL-terminated string.
size_t length(const char* text);

// Bytes a caller owns, filled by decode(): large enough for any path a weir-agent can serve
// (its socket path must fit a sockaddr_un).
struct Text {
  static constexpr size_t kCapacity = 4096;
  char data[kCapacity];
  size_t size = 0;

  Bytes bytes() const { return {data, size}; }
  bool assign(Bytes b);
  bool append(Bytes b);
};

// One value of a parsed document: where it starts and ends. kNone: absent, or not valid JSON.
struct Json {
  enum Kind : unsigned char { kNone, kObject, kArray, kString, kNumber, kTrue, kFalse, kNull };
  Kind kind = kNone;
  const char* begin = nullptr;  // its first byte ('{', '"', 't', …)
  const char* end = nullptr;    // one past its last

  // The root of a document: kNone unless `text` is exactly one JSON value (RFC 8259), with
  // whitespace around it (and maybe a UTF-8 byte order mark first). Unlike nlohmann::json, it
  // takes bytes above 0x7f in strings as they are (not checked to be UTF-8) and numbers of any
  // size, counts nesting deeper than 256 as invalid, and reads all of `text` (nlohmann stops at
  // a NUL byte after the value, its end of a C string): a document that only one of the two
  // takes runs in the -local binary or the agent, which report the same error.
  static Json parse(Bytes text);

  // The member `key` of an object (the last one, as nlohmann::json keeps the last of
  // duplicates), kNone when there is none or this is not an object. Keys are compared decoded.
  Json member(const char* key) const;
  // Whether this is an object without members.
  bool empty_object() const;
  // A string value decoded (escapes undone, \u as UTF-8) into out; false when this is not a
  // string, it does not fit, or it holds an unpaired surrogate.
  bool decode(Text& out) const;
  // Whether this is a string whose decoded value is `text`.
  bool string_equals(const char* text) const;
};

}  // namespace weir::agent::proto
