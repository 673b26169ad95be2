#include "dns/zone.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <memory_resource>
#include <set>
#include <unordered_map>

namespace weir::dns {

namespace {

constexpr uint32_t kNone = UINT32_MAX;
constexpr size_t kMaxScope = 64;          // networks one client sees; more are ignored
constexpr uint32_t kMaxTtl = 0x7fffffff;  // RFC 2181 8

uint64_t hash_bytes(std::string_view s) noexcept {
  // FNV-1a, then a murmur finalizer so that the low bits (the slot) depend on every byte.
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

// Where a zone's tables live: anonymous mappings of the zone's own, filled by bump allocation
// and unmapped with the zone. A snapshot's memory goes back to the kernel the moment its last
// reader drops it, on whatever thread that is, and its tables share no page with the heap.
// Nothing is freed before that, so every table is sized once (reserve) and never grown.
class TableMemory final : public std::pmr::memory_resource {
 public:
  TableMemory() = default;
  TableMemory(const TableMemory&) = delete;
  TableMemory& operator=(const TableMemory&) = delete;
  ~TableMemory() override {
    for (const auto& m : maps_) ::munmap(m.base, m.size);
  }

  template <class T>
  std::span<T> make_array(size_t n) {
    auto* p = static_cast<T*>(allocate(n * sizeof(T), alignof(T)));
    std::uninitialized_value_construct_n(p, n);
    return {p, n};
  }
  size_t used() const noexcept { return used_; }  // bytes handed out

 private:
  // A table that does not fit what is left starts a new mapping (what is left of the old one
  // is never touched, so it costs no memory).
  static constexpr size_t kChunk = 256 * 1024;
  struct Map {
    void* base;
    size_t size;
  };

  void* do_allocate(size_t bytes, size_t align) override {
    size_t off = (top_ + align - 1) & ~(align - 1);
    if (maps_.empty() || off + bytes > maps_.back().size) {
      static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
      const size_t size = std::max(kChunk, (bytes + page - 1) / page * page);
      void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      maps_.push_back({p, size});
      off = 0;
    }
    top_ = off + bytes;
    used_ += bytes;
    return static_cast<char*>(maps_.back().base) + off;
  }
  void do_deallocate(void*, size_t, size_t) override {}  // all at once, by the destructor
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::vector<Map> maps_;
  size_t top_ = 0;  // in the last mapping
  size_t used_ = 0;
};

template <class T>
using Table = std::pmr::vector<T>;

// An index of distinct byte-string keys, built once. The keys lie back to back in one arena
// (entry i is the i-th key added); the table is open addressing over 8-byte slots (32 bits of
// the hash and the entry), at most two thirds full, so a lookup is one probe sequence over a
// contiguous array and reads the arena only on a hash match. The values live in the caller's
// arrays, indexed by entry: nothing per key is allocated on its own.
class KeyIndex {
 public:
  explicit KeyIndex(TableMemory* m) : arena_(m), ends_(m), slots_(m) {}
  // Before the first add(): how many keys, of how many bytes in all.
  void reserve(size_t keys, size_t bytes) {
    ends_.reserve(keys);
    arena_.reserve(bytes);
  }
  // Returns the new key's entry. Keys must be distinct.
  uint32_t add(std::string_view key) {
    arena_.insert(arena_.end(), key.begin(), key.end());
    ends_.push_back(static_cast<uint32_t>(arena_.size()));
    return static_cast<uint32_t>(ends_.size() - 1);
  }
  // Builds the table; no add() after it.
  void freeze() {
    size_t cap = 8;
    while (cap * 2 < ends_.size() * 3) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    for (uint32_t e = 0; e < ends_.size(); ++e) {
      const uint64_t h = hash_bytes(key(e));
      size_t i = h & mask_;
      while (slots_[i].entry != kNone) i = (i + 1) & mask_;
      slots_[i] = Slot{static_cast<uint32_t>(h >> 32), e};
    }
  }

  uint32_t find(std::string_view key) const noexcept {
    if (slots_.empty()) return kNone;
    const uint64_t h = hash_bytes(key);
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot s = slots_[i];
      if (s.entry == kNone) return kNone;
      if (s.tag == tag && this->key(s.entry) == key) return s.entry;
    }
  }

  std::string_view key(uint32_t entry) const noexcept {
    const uint32_t begin = entry ? ends_[entry - 1] : 0;
    return {arena_.data() + begin, ends_[entry] - begin};
  }
  size_t size() const noexcept { return ends_.size(); }

 private:
  struct Slot {
    uint32_t tag = 0;
    uint32_t entry = kNone;
  };
  Table<char> arena_;
  Table<uint32_t> ends_;  // key i is arena_[ends_[i - 1], ends_[i])
  Table<Slot> slots_;
  size_t mask_ = 0;
};

struct Range {
  uint32_t begin = 0;
  uint32_t end = 0;
};

// Per entry of an index, its slice of one record array: entry i owns [begin[i], begin[i + 1]).
struct Slices {
  explicit Slices(TableMemory* m) : begin(m) {}
  void reserve(size_t entries) {
    begin.reserve(entries + 1);
    begin.push_back(0);
  }
  void close(size_t end) { begin.push_back(static_cast<uint32_t>(end)); }
  Range of(uint32_t entry) const noexcept { return {begin[entry], begin[entry + 1]}; }
  Table<uint32_t> begin;
};

// Addresses as hash keys: family byte + 16 address bytes.
struct IpKey {
  std::array<char, 17> bytes{};
  explicit IpKey(const net::IpAddr& ip) noexcept {
    bytes[0] = static_cast<char>(ip.family());
    std::memcpy(bytes.data() + 1, ip.data(), ip.size());
  }
  std::string_view view() const noexcept { return {bytes.data(), bytes.size()}; }
};

bool wants(uint16_t qtype, const net::IpAddr& ip) noexcept {
  if (qtype == kTypeANY) return true;
  return ip.is_v4() ? qtype == kTypeA : qtype == kTypeAAAA;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

// Letters, digits, '-' and '_' in labels of 1..63 bytes, 253 bytes in all: what container
// names, aliases and network names may be to be served (the container world uses '_').
bool valid_dns_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameText) return false;
  size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok || ++label > kMaxLabel) return false;
  }
  return label != 0;
}

std::string quote(std::string_view s) {
  std::string q = "\"";  // appended: GCC 12 -O3 warns falsely (-Wrestrict) on "\"" + std::string&&
  return q.append(s).append("\"");
}

}  // namespace

struct Zone::Impl {
  struct Net {
    std::string name;
    std::string domain;
    std::vector<net::Cidr> subnets;
    std::vector<net::IpAddr> listen;
    std::vector<SocketAddr> upstreams;  // configured (at most 3); empty = host's
    uint32_t ttl = kDefaultTtl;
    std::vector<int> links;  // empty: not checked
    bool forward = true;
  };
  struct NameRec {
    uint32_t net;
    net::IpAddr ip;
  };
  struct PtrRec {
    uint32_t net;
    uint32_t target;  // the entry in `names` of the target name (it is always one)
  };
  struct ClientRec {
    uint32_t container;
    uint32_t net;
  };
  struct Scope {
    size_t n = 0;
    std::array<uint32_t, kMaxScope> nets{};
    bool recursion = false;
    bool contains(uint32_t net) const noexcept {
      for (size_t i = 0; i < n; ++i) {
        if (nets[i] == net) return true;
      }
      return false;
    }
    void add(uint32_t net) noexcept {
      if (n < kMaxScope && !contains(net)) nets[n++] = net;
    }
  };

  TableMemory memory;  // first: the tables below live in it
  std::vector<Net> nets;
  std::vector<SocketAddr> host_upstreams;

  // A name's records; names with the same records (a container's name, its short id, both
  // under the network's domain) share one slice of name_recs.
  KeyIndex names{&memory};  // lowercase name
  Table<Range> name_ranges{&memory};
  Table<NameRec> name_recs{&memory};
  std::span<std::atomic<uint32_t>> rotation;  // per name: round-robin position

  KeyIndex domains{&memory};  // lowercase domain
  Slices domain_slices{&memory};
  Table<uint32_t> domain_nets{&memory};

  // Every endpoint address (IpKey): its PTR targets, and the endpoints that have it.
  KeyIndex addrs{&memory};
  Slices ptr_slices{&memory};
  Table<PtrRec> ptr_recs{&memory};
  Slices client_slices{&memory};
  Table<ClientRec> client_recs{&memory};

  KeyIndex containers{&memory};  // container id
  Slices container_slices{&memory};
  Table<uint32_t> container_nets{&memory};

  std::vector<std::string> skipped;

  void nets_of_container(uint32_t c, Scope& s) const noexcept {
    const Range r = container_slices.of(c);
    for (uint32_t i = r.begin; i < r.end; ++i) s.add(container_nets[i]);
  }

  // Whether `client` is a member of network n as seen on n's listen address (zone.hpp).
  static bool member_of(const Net& n, const Client& client) noexcept {
    auto listens_on = [&](const net::IpAddr& a) {
      return std::find(n.listen.begin(), n.listen.end(), a) != n.listen.end();
    };
    // The host asking its own gateway: the source the kernel picks is the gateway's address
    // (and its datagrams show the bridge as their arrival link, see zone.hpp).
    if (!listens_on(client.local) || listens_on(client.addr)) return false;
    if (client.ifindex != 0 && !n.links.empty() &&
        std::find(n.links.begin(), n.links.end(), client.ifindex) == n.links.end()) {
      return false;
    }
    for (const auto& c : n.subnets) {
      if (c.contains(client.addr)) return true;
    }
    return false;
  }

  // Forwarding for the scope: any of its networks forwards.
  void set_recursion(Scope& s) const noexcept {
    s.recursion = false;
    for (size_t i = 0; i < s.n; ++i) s.recursion = s.recursion || nets[s.nets[i]].forward;
  }

  Scope scope_of(const Client& client) const noexcept {
    Scope s;
    if (!client.container_id.empty()) {
      const uint32_t c = containers.find(client.container_id);
      if (c != kNone) {
        nets_of_container(c, s);
        set_recursion(s);
      }
      return s;
    }
    const uint32_t ci = addrs.find(IpKey(client.addr).view());
    if (ci != kNone) {
      // A known endpoint (most queries): a member of one of its own networks where it asked.
      // One address can be an endpoint of two containers on networks with overlapping
      // subnets: the network it asked decides.
      const Range r = client_slices.of(ci);
      for (uint32_t i = r.begin; i < r.end; ++i) {
        if (member_of(nets[client_recs[i].net], client)) {
          nets_of_container(client_recs[i].container, s);
          set_recursion(s);
          return s;
        }
      }
    }
    // A member the store does not know (yet): the networks it is a member of where it asked.
    // None: no answer at all.
    for (uint32_t i = 0; i < nets.size(); ++i) {
      if (member_of(nets[i], client)) s.add(i);
    }
    set_recursion(s);
    return s;
  }

  std::span<const SocketAddr> upstreams_for(const Scope& s) const noexcept {
    // The first forwarding network (in zone order) of the scope that has its own servers, else
    // the host's.
    uint32_t best = kNone;
    for (size_t i = 0; i < s.n; ++i) {
      const Net& n = nets[s.nets[i]];
      if (n.forward && !n.upstreams.empty() && s.nets[i] < best) best = s.nets[i];
    }
    if (best != kNone) return nets[best].upstreams;
    return host_upstreams;
  }

  // Is `name` (or a parent of it) a weir domain? 1 = a domain in scope, equal to name;
  // 2 = under or equal to some weir domain; 0 = not ours.
  int domain_match(std::string_view name, const Scope& s) const noexcept {
    const uint32_t exact = domains.find(name);
    if (exact != kNone) {
      const Range r = domain_slices.of(exact);
      for (uint32_t i = r.begin; i < r.end; ++i) {
        if (s.contains(domain_nets[i])) return 1;
      }
      return 2;
    }
    for (size_t dot = name.find('.'); dot != std::string_view::npos;
         dot = name.find('.', dot + 1)) {
      if (domains.find(name.substr(dot + 1)) != kNone) return 2;
    }
    return 0;
  }

  void forward_or_refuse(const Scope& s, Lookup& out) const noexcept {
    if (s.recursion) {
      out.kind = Kind::kForward;
      out.upstreams = upstreams_for(s);
    } else {
      out.kind = Kind::kRefuse;
    }
  }

  uint32_t scope_ttl(const Scope& s) const noexcept {
    uint32_t ttl = kMaxTtl;
    for (size_t i = 0; i < s.n; ++i) ttl = std::min(ttl, nets[s.nets[i]].ttl);
    return s.n ? ttl : kDefaultTtl;
  }

  void lookup(const Client& client, const Name& qname, uint16_t qtype, Lookup& out) const noexcept {
    out.kind = Kind::kRefuse;
    out.count = 0;
    out.ptr = false;
    out.ttl = 0;
    out.upstreams = {};
    const Scope s = scope_of(client);
    out.recursion = s.recursion;
    if (s.n == 0 && !s.recursion) return;
    if (!qname.plain() || qname.empty()) return forward_or_refuse(s, out);
    const std::string_view text = qname.text();

    const uint32_t g = names.find(text);
    if (g != kNone) {
      const Range r = name_ranges[g];
      bool in_scope = false;
      uint32_t ttl = kMaxTtl;
      for (uint32_t i = r.begin; i < r.end; ++i) {
        const NameRec& rec = name_recs[i];
        if (!s.contains(rec.net)) continue;
        in_scope = true;
        ttl = std::min(ttl, nets[rec.net].ttl);
        if (!wants(qtype, rec.ip) || out.count == kMaxAnswers) continue;
        // The same address through two networks is answered once.
        if (std::find(out.addrs.begin(), out.addrs.begin() + out.count, rec.ip) !=
            out.addrs.begin() + out.count) {
          continue;
        }
        out.addrs[out.count++] = rec.ip;
      }
      if (in_scope) {
        out.ttl = ttl;
        if (out.count == 0) {
          out.kind = Kind::kNoData;
          return;
        }
        out.kind = Kind::kAnswer;
        if (out.count > 1) {
          const uint32_t turn = rotation[g].fetch_add(1, std::memory_order_relaxed);
          std::rotate(out.addrs.begin(), out.addrs.begin() + turn % out.count,
                      out.addrs.begin() + out.count);
        }
        return;
      }
    }

    if (auto ip = parse_reverse(text)) {
      out.ptr = true;
      const uint32_t p = addrs.find(IpKey(*ip).view());
      if (p != kNone) {
        const Range r = ptr_slices.of(p);
        uint32_t ttl = kMaxTtl;
        bool in_scope = false;
        for (uint32_t i = r.begin; i < r.end; ++i) {
          if (!s.contains(ptr_recs[i].net)) continue;
          in_scope = true;
          ttl = std::min(ttl, nets[ptr_recs[i].net].ttl);
          if ((qtype != kTypePTR && qtype != kTypeANY) || out.count == kMaxAnswers) continue;
          const std::string_view target = names.key(ptr_recs[i].target);
          if (std::find(out.names.begin(), out.names.begin() + out.count, target) !=
              out.names.begin() + out.count) {
            continue;
          }
          out.names[out.count++] = target;
        }
        if (in_scope) {
          out.ttl = ttl;
          out.kind = out.count ? Kind::kAnswer : Kind::kNoData;
          return;
        }
      }
      // An address of a weir subnet that the client may not see or no endpoint has: ours to
      // deny, never forwarded (like names under weir domains).
      for (const Net& n : nets) {
        for (const auto& c : n.subnets) {
          if (c.contains(*ip)) {
            out.kind = Kind::kNxDomain;
            out.ttl = scope_ttl(s);
            return;
          }
        }
      }
      return forward_or_refuse(s, out);
    }

    switch (domain_match(text, s)) {
      case 1:
        out.kind = Kind::kNoData;
        out.ttl = scope_ttl(s);
        return;
      case 2:
        out.kind = Kind::kNxDomain;
        out.ttl = scope_ttl(s);
        return;
      default:
        return forward_or_refuse(s, out);
    }
  }
};

Zone::Zone(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Zone::~Zone() = default;

void Zone::lookup(const Client& client, const Name& qname, uint16_t qtype,
                  Lookup& out) const noexcept {
  impl_->lookup(client, qname, qtype, out);
}

Zone::Scope Zone::scope_of(const Client& client) const {
  const auto s = impl_->scope_of(client);
  Scope out;
  out.recursion = s.recursion;
  for (size_t i = 0; i < s.n; ++i) out.networks.push_back(impl_->nets[s.nets[i]].name);
  std::sort(out.networks.begin(), out.networks.end());
  return out;
}

size_t Zone::table_bytes() const noexcept {
  return impl_->memory.used();
}

size_t Zone::name_count() const noexcept {
  return impl_->names.size();
}

std::vector<std::string> Zone::network_names() const {
  std::vector<std::string> out;
  for (const auto& n : impl_->nets) out.push_back(n.name);
  return out;
}

const std::vector<std::string>& Zone::skipped() const noexcept {
  return impl_->skipped;
}

std::string_view to_string(Kind k) noexcept {
  switch (k) {
    case Kind::kAnswer:
      return "answer";
    case Kind::kNoData:
      return "nodata";
    case Kind::kNxDomain:
      return "nxdomain";
    case Kind::kForward:
      return "forward";
    case Kind::kRefuse:
      return "refuse";
  }
  return "?";
}

std::optional<net::IpAddr> parse_reverse(std::string_view name) noexcept {
  constexpr std::string_view kV4 = ".in-addr.arpa";
  constexpr std::string_view kV6 = ".ip6.arpa";
  auto ends_with = [&](std::string_view suffix) {
    return name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  if (ends_with(kV4)) {
    std::string_view labels = name.substr(0, name.size() - kV4.size());
    uint8_t bytes[4];
    for (int i = 3; i >= 0; --i) {
      const size_t dot = labels.find('.');
      const std::string_view label = labels.substr(0, dot);
      if (label.empty() || label.size() > 3 || (label.size() > 1 && label[0] == '0'))
        return std::nullopt;
      unsigned v = 0;
      for (char c : label) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
      }
      if (v > 255) return std::nullopt;
      bytes[i] = static_cast<uint8_t>(v);
      if ((dot == std::string_view::npos) != (i == 0)) return std::nullopt;
      if (dot != std::string_view::npos) labels.remove_prefix(dot + 1);
    }
    return net::IpAddr::from_bytes(net::Family::kV4, bytes);
  }
  if (ends_with(kV6)) {
    std::string_view labels = name.substr(0, name.size() - kV6.size());
    if (labels.size() != 63) return std::nullopt;  // 32 nibbles and 31 dots
    uint8_t bytes[16] = {};
    for (int i = 0; i < 32; ++i) {
      const char c = labels[static_cast<size_t>(i) * 2];
      if (i < 31 && labels[static_cast<size_t>(i) * 2 + 1] != '.') return std::nullopt;
      int v;
      if (c >= '0' && c <= '9') {
        v = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v = c - 'a' + 10;
      } else {
        return std::nullopt;
      }
      const int nibble = 31 - i;  // the first label is the lowest nibble
      bytes[nibble / 2] |= static_cast<uint8_t>(nibble % 2 ? v : v << 4);
    }
    return net::IpAddr::from_bytes(net::Family::kV6, bytes);
  }
  return std::nullopt;
}

std::string reverse_name(const net::IpAddr& ip) {
  std::string out;
  if (ip.is_v4()) {
    for (int i = 3; i >= 0; --i) out += std::to_string(ip.data()[i]) + ".";
    return out + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out += kHex[ip.data()[i] & 0xf];
    out += '.';
    out += kHex[ip.data()[i] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

Expected<std::shared_ptr<const Zone>> build_zone(std::span<const ZoneNetwork> networks,
                                                 std::span<const ZoneEndpoint> endpoints,
                                                 const ZoneOptions& options) {
  auto impl = std::make_unique<Zone::Impl>();
  if (options.ttl > kMaxTtl)
    return fail(cni::invalid_config("DNS TTL " + std::to_string(options.ttl) + " is over 2^31-1"));
  for (const auto& u : options.host_upstreams) {
    if (impl->host_upstreams.size() < kMaxUpstreams) impl->host_upstreams.push_back(u);
  }

  std::unordered_map<std::string, uint32_t> net_index;
  // name -> (network -> addresses) keeps one record per (name, network, address).
  std::map<std::string, std::vector<std::pair<uint32_t, net::IpAddr>>> name_map;
  std::map<std::string, std::set<uint32_t>> domain_map;

  for (const auto& n : networks) {
    if (!valid_dns_name(n.name)) {
      return fail(cni::invalid_config("DNS network " + quote(n.name) + ": name is not a DNS name"));
    }
    Zone::Impl::Net net;
    net.name = n.name;
    net.domain = lower(n.domain.empty() ? n.name : n.domain);
    if (!net.domain.empty() && net.domain.back() == '.') net.domain.pop_back();
    if (!valid_dns_name(net.domain)) {
      return fail(cni::invalid_config("DNS network " + quote(n.name) + ": domain " +
                                      quote(n.domain) + " is not a DNS name"));
    }
    if (n.ttl && *n.ttl > kMaxTtl) {
      return fail(cni::invalid_config("DNS network " + quote(n.name) + ": TTL over 2^31-1"));
    }
    net.ttl = n.ttl.value_or(options.ttl);
    net.subnets = n.subnets;
    net.listen = n.listen;
    net.links = n.links;
    net.forward = n.forward;
    for (const auto& u : n.upstreams) {
      if (net.upstreams.size() < kMaxUpstreams) net.upstreams.push_back(u);
    }
    const auto idx = static_cast<uint32_t>(impl->nets.size());
    if (!net_index.emplace(net.name, idx).second) {
      return fail(cni::invalid_config("DNS network " + quote(n.name) + " is listed twice"));
    }
    domain_map[net.domain].insert(idx);
    domain_map[lower(net.name)].insert(idx);
    impl->nets.push_back(std::move(net));
  }

  std::unordered_map<std::string, std::pair<uint32_t, std::set<uint32_t>>>
      container_map;  // id -> (index, networks)
  struct AddrUse {
    std::vector<std::pair<uint32_t, std::string>> targets;  // (net, PTR target)
    std::vector<std::pair<uint32_t, uint32_t>> owners;      // (container, net)
  };
  std::map<std::string, AddrUse> addr_map;  // IpKey -> its use
  std::vector<std::string> container_ids;

  for (const auto& e : endpoints) {
    auto bad = [&](const std::string& why) -> std::optional<cni::Error> {
      std::string msg = "DNS endpoint of container " + quote(e.container_id) + " on network " +
                        quote(e.network) + ": " + why;
      if (options.skip_invalid_endpoints) {
        impl->skipped.push_back(std::move(msg));
        return std::nullopt;
      }
      return cni::invalid_config(std::move(msg));
    };
    auto it = net_index.find(e.network);
    if (it == net_index.end()) {
      if (auto err = bad("unknown network")) return fail(std::move(*err));
      continue;
    }
    if (e.container_id.empty()) {
      if (auto err = bad("no container id")) return fail(std::move(*err));
      continue;
    }
    const uint32_t ni = it->second;
    const Zone::Impl::Net& net = impl->nets[ni];
    std::vector<std::string> labels;  // names first (they make the PTR targets), then the rest
    bool ok = true;
    for (const auto* list : {&e.names, &e.aliases}) {
      for (const auto& n : *list) {
        std::string_view v = n;
        if (!v.empty() && v.back() == '.') v.remove_suffix(1);
        if (!valid_dns_name(v) ||
            v.size() + 1 + std::max(net.domain.size(), net.name.size()) > kMaxNameText) {
          ok = false;
          if (auto err = bad("name " + quote(n) + " is not a DNS name"))
            return fail(std::move(*err));
          break;
        }
        labels.push_back(lower(v));
      }
      if (!ok) break;
    }
    if (!ok) continue;
    const size_t nnames = e.names.size();
    std::string short_id = lower(e.container_id.substr(0, kShortIdLen));
    const bool id_usable = valid_dns_name(short_id);
    if (id_usable) labels.push_back(short_id);

    auto [cit, fresh] = container_map.try_emplace(
        e.container_id, static_cast<uint32_t>(container_ids.size()), std::set<uint32_t>{});
    if (fresh) container_ids.push_back(e.container_id);
    cit->second.second.insert(ni);
    const uint32_t container = cit->second.first;

    for (const auto& label : labels) {
      for (const std::string& key :
           {label, label + "." + net.domain, label + "." + lower(net.name)}) {
        auto& recs = name_map[key];
        for (const auto& ip : e.ips) recs.emplace_back(ni, ip);  // deduplicated when frozen
      }
    }
    for (const auto& ip : e.ips) {
      const std::string key(IpKey(ip).view());
      AddrUse& use = addr_map[key];
      auto& targets = use.targets;
      auto add_target = [&](const std::string& label) {
        std::pair<uint32_t, std::string> t{ni, label + "." + net.domain};
        if (std::find(targets.begin(), targets.end(), t) == targets.end())
          targets.push_back(std::move(t));
      };
      for (size_t i = 0; i < nnames; ++i) add_target(labels[i]);
      if (nnames == 0 && id_usable) add_target(short_id);
      auto& owners = use.owners;
      const std::pair<uint32_t, uint32_t> owner{container, ni};
      if (std::find(owners.begin(), owners.end(), owner) == owners.end()) owners.push_back(owner);
    }
  }

  // Freeze the maps into the zone's tables, each sized once (TableMemory never frees).
  {
    // Sorted by (network, address), one of each: replies are deterministic before rotation.
    // (Sort + unique, not a search per insert: 10,000 replicas under one alias stay cheap.)
    size_t bytes = 0;
    for (auto& [name, recs] : name_map) {
      std::sort(recs.begin(), recs.end());
      recs.erase(std::unique(recs.begin(), recs.end()), recs.end());
      bytes += name.size();
    }
    // Names with the same records (a container's name and short id, bare and under the
    // domain) share one slice of name_recs: each name's list is looked up among the distinct
    // ones by a hash of its records, then compared in full.
    using Recs = std::vector<std::pair<uint32_t, net::IpAddr>>;
    auto hash_recs = [](const Recs& recs) {
      uint64_t h = 0xcbf29ce484222325ull;
      auto mix = [&h](uint8_t b) { h = (h ^ b) * 0x100000001b3ull; };
      for (const auto& [n, ip] : recs) {
        for (int i = 0; i < 4; ++i) mix(static_cast<uint8_t>(n >> (8 * i)));
        mix(static_cast<uint8_t>(ip.family()));
        for (size_t i = 0; i < ip.size(); ++i) mix(ip.data()[i]);
      }
      return h;
    };
    std::unordered_multimap<uint64_t, const Recs*> distinct;
    std::vector<const Recs*> list_of;  // per name, in name_map's order: the list it shares
    list_of.reserve(name_map.size());
    size_t nrecs = 0;
    for (const auto& [name, recs] : name_map) {
      const uint64_t h = hash_recs(recs);
      const Recs* same = nullptr;
      for (auto [it, end] = distinct.equal_range(h); it != end && !same; ++it) {
        if (*it->second == recs) same = it->second;
      }
      if (!same) {
        same = &recs;
        distinct.emplace(h, same);
        nrecs += recs.size();
      }
      list_of.push_back(same);
    }
    std::unordered_map<const Recs*, Range> slice_of;
    impl->name_recs.reserve(nrecs);
    impl->names.reserve(name_map.size(), bytes);
    impl->name_ranges.reserve(name_map.size());
    size_t i = 0;
    for (const auto& [name, recs] : name_map) {
      auto [it, fresh] = slice_of.try_emplace(list_of[i++]);
      if (fresh) {
        it->second.begin = static_cast<uint32_t>(impl->name_recs.size());
        for (const auto& [n, ip] : recs) impl->name_recs.push_back({n, ip});
        it->second.end = static_cast<uint32_t>(impl->name_recs.size());
      }
      impl->names.add(name);
      impl->name_ranges.push_back(it->second);
    }
    impl->names.freeze();
    impl->rotation = impl->memory.make_array<std::atomic<uint32_t>>(name_map.size());
  }
  {
    size_t bytes = 0;
    size_t nnets = 0;
    for (const auto& [domain, ns] : domain_map) {
      bytes += domain.size();
      nnets += ns.size();
    }
    impl->domains.reserve(domain_map.size(), bytes);
    impl->domain_slices.reserve(domain_map.size());
    impl->domain_nets.reserve(nnets);
    for (const auto& [domain, ns] : domain_map) {
      impl->domains.add(domain);
      impl->domain_nets.insert(impl->domain_nets.end(), ns.begin(), ns.end());
      impl->domain_slices.close(impl->domain_nets.size());
    }
    impl->domains.freeze();
  }
  {
    size_t bytes = 0;
    size_t ntargets = 0;
    size_t nowners = 0;
    for (const auto& [key, use] : addr_map) {
      bytes += key.size();
      ntargets += use.targets.size();
      nowners += use.owners.size();
    }
    impl->addrs.reserve(addr_map.size(), bytes);
    impl->ptr_slices.reserve(addr_map.size());
    impl->client_slices.reserve(addr_map.size());
    impl->ptr_recs.reserve(ntargets);
    impl->client_recs.reserve(nowners);
    for (const auto& [key, use] : addr_map) {
      impl->addrs.add(key);
      // Every target is some label under its network's domain, which `names` holds.
      for (const auto& [n, target] : use.targets) {
        const uint32_t entry = impl->names.find(target);
        if (entry != kNone) impl->ptr_recs.push_back({n, entry});
      }
      impl->ptr_slices.close(impl->ptr_recs.size());
      for (const auto& [c, n] : use.owners) impl->client_recs.push_back({c, n});
      impl->client_slices.close(impl->client_recs.size());
    }
    impl->addrs.freeze();
  }
  {
    size_t bytes = 0;
    size_t nnets = 0;
    for (const auto& id : container_ids) {
      bytes += id.size();
      nnets += container_map[id].second.size();
    }
    impl->containers.reserve(container_ids.size(), bytes);
    impl->container_slices.reserve(container_ids.size());
    impl->container_nets.reserve(nnets);
    for (uint32_t c = 0; c < container_ids.size(); ++c) {
      const auto& ns = container_map[container_ids[c]].second;
      impl->containers.add(container_ids[c]);
      impl->container_nets.insert(impl->container_nets.end(), ns.begin(), ns.end());
      impl->container_slices.close(impl->container_nets.size());
    }
    impl->containers.freeze();
  }
  return std::make_shared<const Zone>(std::move(impl));
}

}  // namespace weir::dns
