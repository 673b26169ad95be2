// The zone: every name weir answers, built once from the agent's view of the store into an
// immutable lookup table, then swapped in whole (Server::set_zone). Lookups never allocate and
// never lock; a zone that fails to build is never served, so a bad update keeps the old one.
//
// What a container sees (its "scope"): the networks its container id is attached to, found
// from the query's source address among the endpoints' addresses (or, for a socket that
// belongs to one container, from the socket). Names of other networks are invisible.
//
// Who is answered at all, on a network's listen (gateway) address: a member of that network
// only. A member's query
//   - was sent to one of the network's listen addresses,
//   - comes from an address inside one of its subnets that is not one of its listen
//     addresses: the host asking its own gateway has the gateway's address as its source,
//   - and arrived on one of the network's links (its bridge), when the transport says where
//     it arrived (UDP: IP_PKTINFO; over TCP, Client::ifindex 0, the handshake proved that the
//     source is reachable through the network's route). The kernel reports a host-local
//     datagram to the gateway as arrived on the link that holds the gateway's address, not
//     on lo, so the link check does not tell host processes apart: the source check does.
// Anyone else (a LAN neighbour routed to the gateway, a container of another network, a
// process on the host, a source spoofed from another interface) gets REFUSED for every name.
// A member that is a known endpoint sees its container's networks; one the store does not
// know yet sees the networks it is a member of.
//
// Forwarding: a scope forwards names that are not weir's when at least one of its networks
// forwards (ZoneNetwork::forward; weir-bridge's `internal` networks do not: their containers
// must not reach the outside through us, Moby CVE-2024-29018), to the upstreams of the first
// such network (in zone order) that has its own, else to the host's. Otherwise REFUSED.
//
// For each endpoint of a network with domain D (default: the network's name) and name or
// alias or 12-character short id N, the zone answers N and N.D (and N.<network name> when it
// differs from D). PTR answers N.D for each of the endpoint's names (its short id when it has
// none). Unknown names under any weir domain get NXDOMAIN, even when the domain is out of the
// client's scope, and so do reverse names of addresses in any weir subnet: they are never
// forwarded, so they do not leak upstream.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/sockaddr.hpp"
#include "dns/wire.hpp"
#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"

namespace weir::dns {

inline constexpr uint32_t kDefaultTtl = 5;  // seconds: containers come and go
inline constexpr size_t kMaxUpstreams = 3;  // resolv.conf's MAXNS
inline constexpr size_t kMaxAnswers = 128;  // records per answer; UDP fits ~75 A records
inline constexpr size_t kShortIdLen = 12;   // `docker ps` style short container id

struct ZoneNetwork {
  std::string name{};
  std::string domain{};  // "" = name
  std::vector<net::Cidr> subnets{};
  std::vector<net::IpAddr> listen{};    // where the agent serves this network (its gateways)
  std::vector<SocketAddr> upstreams{};  // first 3 used; empty = ZoneOptions::host_upstreams
  std::optional<uint32_t> ttl{};        // unset = ZoneOptions::ttl
  // The interfaces its members' queries arrive on (its bridge). Empty: not checked (a zone
  // built without the kernel's view: tests, weirctl).
  std::vector<int> links{};
  bool forward = true;  // false: names that are not weir's are REFUSED (internal networks)
};

struct ZoneEndpoint {
  std::string network{};
  std::string container_id{};
  std::vector<std::string> names{};
  std::vector<std::string> aliases{};
  std::vector<net::IpAddr> ips{};
};

struct ZoneOptions {
  uint32_t ttl = kDefaultTtl;
  std::vector<SocketAddr> host_upstreams{};  // e.g. read_resolv_conf("/etc/resolv.conf")
  // false: an invalid endpoint fails the build (the caller keeps the old zone).
  // true: it is left out and listed in Zone::skipped(), so one bad record cannot freeze DNS.
  bool skip_invalid_endpoints = false;
};

// Who asks.
struct Client {
  net::IpAddr addr{};               // source address of the query
  net::IpAddr local{};              // the address the query was sent to
  std::string_view container_id{};  // set when the socket serves one container only
  int ifindex = 0;                  // where the query arrived; 0 = the transport does not say
};

enum class Kind : uint8_t {
  kAnswer,    // records in Lookup::addrs (A/AAAA) or Lookup::names (PTR)
  kNoData,    // the name exists, not with this type: NOERROR, no answer
  kNxDomain,  // a name in a weir domain that does not exist
  kForward,   // not ours: ask Lookup::upstreams (empty: none configured, SERVFAIL)
  kRefuse,    // not ours and this client may not recurse through us
};
std::string_view to_string(Kind k) noexcept;

// The result of a lookup. Fixed size and reusable, so a lookup never allocates; views point
// into the Zone and stay valid while the caller holds the zone's shared_ptr.
struct Lookup {
  Kind kind = Kind::kRefuse;
  uint32_t ttl = 0;
  bool recursion = false;  // the client may recurse through us (RA in the reply)
  bool ptr = false;        // the answer is names (PTR), else addrs (A/AAAA)
  size_t count = 0;        // entries of addrs or names
  std::array<net::IpAddr, kMaxAnswers> addrs{};
  std::array<std::string_view, kMaxAnswers> names{};
  std::span<const SocketAddr> upstreams{};
};

class Zone {
 public:
  struct Impl;
  explicit Zone(std::unique_ptr<Impl> impl);
  ~Zone();
  Zone(const Zone&) = delete;
  Zone& operator=(const Zone&) = delete;

  // Answers qname/qtype for this client. Several records under one name come back rotated by
  // one position per call (round robin across replies).
  void lookup(const Client& client, const Name& qname, uint16_t qtype, Lookup& out) const noexcept;

  // The networks this client sees (indexes into networks()) and whether it may recurse.
  struct Scope {
    std::vector<std::string> networks;
    bool recursion = false;
  };
  Scope scope_of(const Client& client) const;

  size_t name_count() const noexcept;  // distinct lowercase names answered
  // Bytes held by the lookup tables (most of a snapshot; networks' own vectors not counted).
  size_t table_bytes() const noexcept;
  std::vector<std::string> network_names() const;
  const std::vector<std::string>& skipped() const noexcept;  // "container \"id\" on \"net\": why"

 private:
  std::unique_ptr<Impl> impl_;
};

// Validates and indexes. Fails (code 7, invalid config) on a network without a usable name or
// domain, duplicate networks, and — unless options.skip_invalid_endpoints — on an endpoint of
// an unknown network, without container id, or with a name that is not a DNS name.
Expected<std::shared_ptr<const Zone>> build_zone(std::span<const ZoneNetwork> networks,
                                                 std::span<const ZoneEndpoint> endpoints,
                                                 const ZoneOptions& options = {});

// The address of a reverse name: "4.3.2.1.in-addr.arpa" or the 32-nibble ip6.arpa form.
std::optional<net::IpAddr> parse_reverse(std::string_view name) noexcept;
// The reverse name of an address, lowercase, no trailing dot.
std::string reverse_name(const net::IpAddr& ip);

}  // namespace weir::dns
