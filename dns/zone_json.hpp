// A zone described in JSON: the fixture format of the tests, the benchmark and `weirctl`-style
// debugging. The agent builds its zone from the store instead; both end in build_zone().
//
//   {
//     "ttl": 5,                                  // optional, ZoneOptions::ttl
//     "upstreams": ["127.0.0.1:5300"],           // optional, the host's resolvers
//     "networks": [{"name": "frontend", "domain": "fe.internal", "subnets": ["10.1.0.0/24"],
//                   "listen": ["10.1.0.1"], "upstreams": ["10.1.0.53"], "ttl": 10,
//                   "links": [7], "forward": false}],      // optional, see ZoneNetwork
//     "endpoints": [{"network": "frontend", "container_id": "3f4e…", "names": ["web"],
//                    "aliases": ["www"], "ips": ["10.1.0.2", "fd00::2"]}]
//   }
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dns/zone.hpp"
#include "lib/cni/error.hpp"

namespace weir::dns {

struct ZoneSpec {
  std::vector<ZoneNetwork> networks{};
  std::vector<ZoneEndpoint> endpoints{};
  ZoneOptions options{};
};

// Fails with code 6 (decode failure) on bad JSON and code 7 on a bad address or field.
Expected<ZoneSpec> parse_zone_json(std::string_view text);
Expected<ZoneSpec> read_zone_json(const std::string& path);

}  // namespace weir::dns
