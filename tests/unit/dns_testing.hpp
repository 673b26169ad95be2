// Helpers of the DNS tests: hex, fixtures, a query builder, and a reply decoder written apart
// from dns/wire.cpp so that each checks the other.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dns/wire.hpp"
#include "dns/zone.hpp"
#include "dns/zone_json.hpp"

namespace weir::dns::testing {

inline std::string golden_path(std::string_view name) {
  return std::string(WEIR_SOURCE_DIR) + "/tests/unit/golden/dns/" + std::string(name);
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      continue;  // spaces, newlines, '|' separators
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

inline std::string to_hex(std::span<const uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

inline uint16_t qtype_of(std::string_view s) {
  if (s == "A") return kTypeA;
  if (s == "AAAA") return kTypeAAAA;
  if (s == "PTR") return kTypePTR;
  if (s == "MX") return kTypeMX;
  if (s == "TXT") return kTypeTXT;
  if (s == "SRV") return kTypeSRV;
  if (s == "ANY") return kTypeANY;
  throw std::invalid_argument("qtype " + std::string(s));
}

inline std::shared_ptr<const Zone> fixture_zone(std::string_view file = "zone.json") {
  auto spec = read_zone_json(golden_path(file));
  if (!spec) throw std::runtime_error(spec.error().msg);
  auto zone = build_zone(spec->networks, spec->endpoints, spec->options);
  if (!zone) throw std::runtime_error(zone.error().msg);
  return *zone;
}

struct QueryOptions {
  uint16_t id = 0x1234;
  uint16_t klass = kClassIN;
  bool rd = true;
  bool edns = false;
  uint16_t udp_size = 1232;
  uint8_t edns_version = 0;
  bool dnssec_ok = false;
};

// A query as a stub resolver sends it: one question, optionally an OPT record.
inline std::vector<uint8_t> make_query(std::string_view name, uint16_t type, QueryOptions o = {}) {
  std::vector<uint8_t> out;
  auto u16 = [&](uint16_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
  };
  u16(o.id);
  u16(o.rd ? kFlagRD : 0);
  u16(1);
  u16(0);
  u16(0);
  u16(o.edns ? 1 : 0);
  std::string_view rest = name;
  if (!rest.empty() && rest.back() == '.') rest.remove_suffix(1);
  while (!rest.empty()) {
    const size_t dot = rest.find('.');
    const std::string_view label = rest.substr(0, dot);
    out.push_back(static_cast<uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
  }
  out.push_back(0);
  u16(type);
  u16(o.klass);
  if (o.edns) {
    out.push_back(0);
    u16(kTypeOPT);
    u16(o.udp_size);
    u16(static_cast<uint16_t>(o.edns_version));
    u16(o.dnssec_ok ? 0x8000 : 0);
    u16(0);
  }
  return out;
}

struct Record {
  std::string name;
  uint16_t type = 0;
  uint16_t klass = 0;
  uint32_t ttl = 0;
  std::string data;  // A/AAAA: the address; PTR: the name; others: hex
};

struct Decoded {
  uint16_t id = 0;
  uint16_t flags = 0;
  std::string qname;
  uint16_t qtype = 0;
  std::vector<Record> answers;
  std::vector<Record> authority;
  std::vector<Record> additional;
  int rcode() const { return flags & 0xf; }
  bool has(uint16_t flag) const { return flags & flag; }
  std::vector<std::string> data() const {
    std::vector<std::string> out;
    for (const auto& r : answers) out.push_back(r.data);
    return out;
  }
};

// Decodes a whole message, following compression pointers; nullopt on anything malformed.
inline std::optional<Decoded> decode(std::span<const uint8_t> p) {
  if (p.size() < 12) return std::nullopt;
  size_t pos = 0;
  auto u16 = [&](size_t at) { return static_cast<uint16_t>(p[at] << 8 | p[at + 1]); };
  auto name = [&](size_t& at) -> std::optional<std::string> {
    std::string out;
    size_t cur = at;
    bool jumped = false;
    for (int guard = 0; guard < 128; ++guard) {
      if (cur >= p.size()) return std::nullopt;
      const uint8_t len = p[cur];
      if (len == 0) {
        if (!jumped) at = cur + 1;
        return out;
      }
      if ((len & 0xC0) == 0xC0) {
        if (cur + 1 >= p.size()) return std::nullopt;
        if (!jumped) at = cur + 2;
        jumped = true;
        cur = static_cast<size_t>(len & 0x3F) << 8 | p[cur + 1];
        continue;
      }
      if (cur + 1 + len > p.size()) return std::nullopt;
      if (!out.empty()) out += '.';
      out.append(reinterpret_cast<const char*>(p.data() + cur + 1), len);
      cur += 1 + len;
    }
    return std::nullopt;
  };
  Decoded d;
  d.id = u16(0);
  d.flags = u16(2);
  const uint16_t qd = u16(4), an = u16(6), ns = u16(8), ar = u16(10);
  pos = 12;
  for (int i = 0; i < qd; ++i) {
    auto n = name(pos);
    if (!n || pos + 4 > p.size()) return std::nullopt;
    d.qname = *n;
    d.qtype = u16(pos);
    pos += 4;
  }
  auto records = [&](int count, std::vector<Record>& into) -> bool {
    for (int i = 0; i < count; ++i) {
      Record r;
      auto n = name(pos);
      if (!n || pos + 10 > p.size()) return false;
      r.name = *n;
      r.type = u16(pos);
      r.klass = u16(pos + 2);
      r.ttl = static_cast<uint32_t>(u16(pos + 4)) << 16 | u16(pos + 6);
      const uint16_t rdlen = u16(pos + 8);
      pos += 10;
      if (pos + rdlen > p.size()) return false;
      if (r.type == kTypeA && rdlen == 4) {
        r.data = net::IpAddr::from_bytes(net::Family::kV4, p.data() + pos).str();
      } else if (r.type == kTypeAAAA && rdlen == 16) {
        r.data = net::IpAddr::from_bytes(net::Family::kV6, p.data() + pos).str();
      } else if (r.type == kTypePTR) {
        size_t at = pos;
        auto target = name(at);
        if (!target || at != pos + rdlen) return false;
        r.data = *target;
      } else {
        r.data = to_hex(p.subspan(pos, rdlen));
      }
      pos += rdlen;
      into.push_back(std::move(r));
    }
    return true;
  };
  if (!records(an, d.answers) || !records(ns, d.authority) || !records(ar, d.additional)) {
    return std::nullopt;
  }
  return d;
}

}  // namespace weir::dns::testing
