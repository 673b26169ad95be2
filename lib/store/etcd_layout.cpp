#include "lib/store/etcd_layout.hpp"

#include <nlohmann/json.hpp>

namespace weir::store::etcd_layout {

namespace {

using nlohmann::json;

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// replace, not throw, on invalid UTF-8: no exception leaves lib/.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json cidrs(const std::vector<net::Cidr>& list) {
  auto j = json::array();
  for (const auto& c : list) j.push_back(c.str());
  return j;
}

cni::Error corrupt(std::string_view key, std::string_view why) {
  return cni::make_error(cni::Code::kStore, "store: corrupt record at etcd key " +
                                                cni::quoted(key) + ": " + std::string(why));
}

// The record's JSON object, or why it is not one.
Expected<json> parse(std::string_view key, std::string_view value) {
  auto j = json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(corrupt(key, "not a JSON object"));
  return j;
}

// Reads typed fields; the first wrong one makes the record corrupt. Missing fields are their
// defaults (a newer weir may add fields; an older one reads what it knows).
class Reader {
 public:
  Reader(std::string_view key, const json& j) : key_(key), j_(j) {}
  std::string text(const char* field) {
    auto it = j_.find(field);
    if (it == j_.end()) return {};
    if (!it->is_string()) return bad(field), std::string();
    return it->get<std::string>();
  }
  int64_t integer(const char* field) {
    auto it = j_.find(field);
    if (it == j_.end()) return 0;
    if (!it->is_number_integer()) return bad(field), 0;
    return it->get<int64_t>();
  }
  std::vector<std::string> strings(const char* field) {
    std::vector<std::string> out;
    auto it = j_.find(field);
    if (it == j_.end()) return out;
    if (!it->is_array()) return bad(field), out;
    for (const auto& e : *it) {
      if (!e.is_string()) return bad(field), out;
      out.push_back(e.get<std::string>());
    }
    return out;
  }
  std::vector<net::Cidr> cidrs(const char* field) {
    std::vector<net::Cidr> out;
    for (const auto& s : strings(field)) {
      auto c = net::Cidr::parse(s);
      if (!c) return bad(field), out;
      out.push_back(*c);
    }
    return out;
  }
  net::IpAddr addr(const char* field) {
    auto a = net::IpAddr::parse(text(field));
    if (!a) return bad(field), net::IpAddr{};
    return *a;
  }
  Expected<void> status() const {
    if (bad_.empty()) return {};
    return fail(corrupt(key_, "field \"" + bad_ + "\" is not what it should be"));
  }

 private:
  void bad(const char* field) {
    if (bad_.empty()) bad_ = field;
  }
  std::string_view key_;
  const json& j_;
  std::string bad_;
};

}  // namespace

std::string encode_part(std::string_view part) {
  std::string out;
  out.reserve(part.size());
  for (char c : part) {
    if (c == '/' || c == '%') {
      out += '%';
      out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      out += kHex[static_cast<unsigned char>(c) & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::string decode_part(std::string_view part) {
  std::string out;
  out.reserve(part.size());
  for (size_t i = 0; i < part.size(); ++i) {
    if (part[i] == '%' && i + 2 < part.size() && hex_value(part[i + 1]) >= 0 &&
        hex_value(part[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(part[i + 1]) * 16 + hex_value(part[i + 2]));
      i += 2;
    } else {
      out += part[i];
    }
  }
  return out;
}

std::string addr_key(const net::IpAddr& a) {
  std::string out = a.is_v4() ? "4-" : "6-";
  for (size_t i = 0; i < a.size(); ++i) {
    out += kHex[a.data()[i] >> 4];
    out += kHex[a.data()[i] & 0xf];
  }
  return out;
}

std::optional<net::IpAddr> parse_addr_key(std::string_view key) {
  const size_t slash = key.rfind('/');
  if (slash != std::string_view::npos) key.remove_prefix(slash + 1);
  net::Family family;
  if (key.size() == 2 + 8 && key.starts_with("4-")) {
    family = net::Family::kV4;
  } else if (key.size() == 2 + 32 && key.starts_with("6-")) {
    family = net::Family::kV6;
  } else {
    return std::nullopt;
  }
  uint8_t bytes[16] = {};
  for (size_t i = 2; i < key.size(); i += 2) {
    const int hi = hex_value(key[i]);
    const int lo = hex_value(key[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    bytes[(i - 2) / 2] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return net::IpAddr::from_bytes(family, bytes);
}

std::string fold_name(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string encode(const NetworkRecord& n) {
  return dump({{"name", n.name}, {"subnets", cidrs(n.subnets)}, {"created", n.created}});
}

std::string encode(const Lease& l) {
  return dump({{"network", l.network},
               {"range_set", l.range_set},
               {"address", l.address.str()},
               {"container_id", l.container_id},
               {"ifname", l.ifname},
               {"netns", l.netns},
               {"created", l.created},
               {"host", l.host}});
}

std::string encode(const Endpoint& e) {
  return dump({{"network", e.network},
               {"container_id", e.container_id},
               {"ifname", e.ifname},
               {"netns", e.netns},
               {"mac", e.mac},
               {"host_ifname", e.host_ifname},
               {"ips", cidrs(e.ips)},
               {"names", e.names},
               {"aliases", e.aliases},
               {"extra", e.extra},
               {"created", e.created},
               {"host", e.host}});
}

Expected<NetworkRecord> decode_network(std::string_view key, std::string_view value) {
  auto j = parse(key, value);
  if (!j) return fail(j.error());
  Reader r(key, *j);
  NetworkRecord n{
      .name = r.text("name"), .subnets = r.cidrs("subnets"), .created = r.integer("created")};
  if (auto ok = r.status(); !ok) return fail(ok.error());
  return n;
}

Expected<Lease> decode_lease(std::string_view key, std::string_view value) {
  auto j = parse(key, value);
  if (!j) return fail(j.error());
  Reader r(key, *j);
  Lease l{.network = r.text("network"),
          .range_set = static_cast<int>(r.integer("range_set")),
          .address = r.addr("address"),
          .container_id = r.text("container_id"),
          .ifname = r.text("ifname"),
          .netns = r.text("netns"),
          .created = r.integer("created"),
          .host = r.text("host")};
  if (auto ok = r.status(); !ok) return fail(ok.error());
  return l;
}

Expected<Endpoint> decode_endpoint(std::string_view key, std::string_view value) {
  auto j = parse(key, value);
  if (!j) return fail(j.error());
  Reader r(key, *j);
  Endpoint e{.network = r.text("network"),
             .container_id = r.text("container_id"),
             .ifname = r.text("ifname"),
             .netns = r.text("netns"),
             .mac = r.text("mac"),
             .host_ifname = r.text("host_ifname"),
             .ips = r.cidrs("ips"),
             .names = r.strings("names"),
             .aliases = r.strings("aliases"),
             .extra = r.text("extra"),
             .created = r.integer("created"),
             .host = r.text("host")};
  if (auto ok = r.status(); !ok) return fail(ok.error());
  return e;
}

}  // namespace weir::store::etcd_layout
