// weir-dns-bench-store --zone ZONE.json --data-dir DIR
// Writes a JSON zone's endpoints into DIR's store as the plugins would record them, so that
// weir-agent --data-dir DIR serves that zone: the benchmark measures the real agent with it.
// Each endpoint gets the network's listen addresses as dnsListen, "lo" as its bridge, and a
// prefix from the network's subnet that holds its address.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "dns/zone_json.hpp"
#include "lib/store/sqlite.hpp"

namespace {

int usage() {
  std::fprintf(stderr, "usage: weir-dns-bench-store --zone ZONE.json --data-dir DIR\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace weir;
  std::string zone_path;
  std::string data_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view arg = argv[i];
    if (arg == "--zone") {
      zone_path = argv[i + 1];
    } else if (arg == "--data-dir") {
      data_dir = argv[i + 1];
    } else {
      return usage();
    }
  }
  if (zone_path.empty() || data_dir.empty()) return usage();
  auto spec = dns::read_zone_json(zone_path);
  if (!spec) {
    std::fprintf(stderr, "weir-dns-bench-store: %s\n", spec.error().msg.c_str());
    return 1;
  }
  auto st = store::SqliteStore::open(store::database_path(data_dir));
  if (!st) {
    std::fprintf(stderr, "weir-dns-bench-store: %s\n", st.error().msg.c_str());
    return 1;
  }
  auto ok = st->transact([&](store::Txn& t) -> Expected<void> {
    for (const auto& e : spec->endpoints) {
      const dns::ZoneNetwork* net = nullptr;
      for (const auto& n : spec->networks) {
        if (n.name == e.network) net = &n;
      }
      if (!net) return fail(cni::invalid_config("endpoint on unknown network " + e.network));
      // On "lo": the agent answers datagrams that arrive on the network's bridge only, and the
      // benchmark asks over loopback.
      nlohmann::json extra = {
          {"embeddedDNS", true}, {"dnsListen", nlohmann::json::array()}, {"bridge", "lo"}};
      for (const auto& ip : net->listen) extra["dnsListen"].push_back(ip.str());
      const std::string short_id = e.container_id.substr(0, dns::kShortIdLen);
      store::Endpoint ep{.network = e.network,
                         .container_id = e.container_id,
                         .ifname = "eth0",
                         .netns = "/var/run/netns/bench-" + short_id,
                         .mac = "02:42:00:00:00:00",
                         .host_ifname = "veth" + short_id.substr(0, 8),
                         .names = e.names,
                         .aliases = e.aliases,
                         .extra = extra.dump(),
                         .created = 0};
      ep.names.push_back(short_id);  // the plugins list the short id among the names
      for (const auto& ip : e.ips) {
        int prefix = ip.is_v4() ? 32 : 128;
        for (const auto& c : net->subnets) {
          if (c.contains(ip)) prefix = c.prefix_len();
        }
        ep.ips.push_back(net::Cidr(ip, prefix));
      }
      if (auto put = t.put_endpoint(ep); !put) return put;
    }
    return {};
  });
  if (!ok) {
    std::fprintf(stderr, "weir-dns-bench-store: %s\n", ok.error().msg.c_str());
    return 1;
  }
  std::printf("%zu endpoints\n", spec->endpoints.size());
  return 0;
}
