#include "dns/zone_json.hpp"

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace weir::dns {

namespace {

using nlohmann::json;

// Each getter throws json::exception on a wrong type; parse_zone_json turns that into an Error.
std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key)) {
    for (const auto& v : j.at(key)) out.push_back(v.get<std::string>());
  }
  return out;
}

std::vector<net::IpAddr> ips(const json& j, const char* key) {
  std::vector<net::IpAddr> out;
  for (const auto& s : strings(j, key)) {
    auto ip = net::IpAddr::parse(s);
    if (!ip) throw std::invalid_argument("bad address \"" + s + "\" in \"" + key + "\"");
    out.push_back(*ip);
  }
  return out;
}

std::vector<SocketAddr> servers(const json& j, const char* key) {
  std::vector<SocketAddr> out;
  for (const auto& s : strings(j, key)) {
    auto a = SocketAddr::parse(s);
    if (!a) throw std::invalid_argument("bad server \"" + s + "\" in \"" + key + "\"");
    out.push_back(*a);
  }
  return out;
}

}  // namespace

Expected<ZoneSpec> parse_zone_json(std::string_view text) {
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return fail(cni::decode_failure("DNS zone: not a JSON object"));
  }
  ZoneSpec spec;
  try {
    if (doc.contains("ttl")) spec.options.ttl = doc.at("ttl").get<uint32_t>();
    spec.options.host_upstreams = servers(doc, "upstreams");
    if (doc.contains("networks")) {
      for (const auto& n : doc.at("networks")) {
        ZoneNetwork net;
        net.name = n.at("name").get<std::string>();
        net.domain = n.value("domain", std::string{});
        for (const auto& s : strings(n, "subnets")) {
          auto c = net::Cidr::parse(s);
          if (!c) throw std::invalid_argument("bad subnet \"" + s + "\"");
          net.subnets.push_back(*c);
        }
        net.listen = ips(n, "listen");
        net.upstreams = servers(n, "upstreams");
        if (n.contains("ttl")) net.ttl = n.at("ttl").get<uint32_t>();
        if (n.contains("links")) net.links = n.at("links").get<std::vector<int>>();
        net.forward = n.value("forward", true);
        spec.networks.push_back(std::move(net));
      }
    }
    if (doc.contains("endpoints")) {
      for (const auto& e : doc.at("endpoints")) {
        ZoneEndpoint ep;
        ep.network = e.at("network").get<std::string>();
        ep.container_id = e.at("container_id").get<std::string>();
        ep.names = strings(e, "names");
        ep.aliases = strings(e, "aliases");
        ep.ips = ips(e, "ips");
        spec.endpoints.push_back(std::move(ep));
      }
    }
  } catch (const std::exception& ex) {
    return fail(cni::invalid_config(std::string("DNS zone: ") + ex.what()));
  }
  return spec;
}

Expected<ZoneSpec> read_zone_json(const std::string& path) {
  std::ifstream file(path);
  if (!file) return fail(cni::sys_error(errno, "read \"" + path + "\"", cni::Code::kIoFailure));
  std::ostringstream text;
  text << file.rdbuf();
  auto spec = parse_zone_json(text.str());
  if (!spec) return fail(std::move(spec.error()).context("\"" + path + "\""));
  return spec;
}

}  // namespace weir::dns
