// One internal result model (spec 1.1), converted on output to exactly the caller's cniVersion
// and read back from a prevResult of any version.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"

namespace weir::cni {

struct Interface {
  std::string name;
  std::string mac;
  std::optional<uint32_t> mtu;  // 1.1.0
  std::string sandbox;
  std::string socket_path;      // 1.1.0
  std::string pci_id;           // 1.1.0

  friend bool operator==(const Interface&, const Interface&) = default;
};

struct IpConfig {
  net::Cidr address;
  std::optional<net::IpAddr> gateway;
  std::optional<int> interface;  // index into Result::interfaces

  friend bool operator==(const IpConfig&, const IpConfig&) = default;
};

struct Route {
  net::Cidr dst;
  std::optional<net::IpAddr> gw;
  std::optional<int> mtu;       // 1.1.0
  std::optional<int> advmss;    // 1.1.0
  std::optional<int> priority;  // 1.1.0
  std::optional<int> table;     // 1.1.0
  std::optional<int> scope;     // 1.1.0

  friend bool operator==(const Route&, const Route&) = default;
};

struct Dns {
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;

  bool empty() const {
    return nameservers.empty() && domain.empty() && search.empty() && options.empty();
  }
  friend bool operator==(const Dns&, const Dns&) = default;
};

struct Result {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<Route> routes;
  Dns dns;

  friend bool operator==(const Result&, const Result&) = default;
};

// The result as the caller's cniVersion spells it: 0.1.0/0.2.0 `ip4`/`ip6`, 0.3.x/0.4.0 with
// `ips[].version`, 1.x; fields the version does not know and empty fields are left out.
nlohmann::json result_to_json(const Result& r, std::string_view version);

// Reads a result of any version (the shape decides: `ip4`/`ip6` is the 0.2.0 form).
Expected<Result> result_from_json(const nlohmann::json& j);

nlohmann::json dns_to_json(const Dns& dns);
Expected<Dns> dns_from_json(const nlohmann::json& j);

}  // namespace weir::cni
