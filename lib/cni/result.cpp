#include "lib/cni/result.hpp"

#include "lib/cni/version.hpp"

namespace weir::cni {

using nlohmann::json;

namespace {

json route_to_json(const Route& r, bool v11) {
  json j = {{"dst", r.dst.str()}};
  if (r.gw) j["gw"] = r.gw->str();
  if (v11) {
    if (r.mtu) j["mtu"] = *r.mtu;
    if (r.advmss) j["advmss"] = *r.advmss;
    if (r.priority) j["priority"] = *r.priority;
    if (r.table) j["table"] = *r.table;
    if (r.scope) j["scope"] = *r.scope;
  }
  return j;
}

void put_dns(json& j, const Dns& dns) {
  if (!dns.empty()) j["dns"] = dns_to_json(dns);
}

// 0.1.0 and 0.2.0 know one address per family and no interfaces; as libcni does, the first
// address of each family is kept and routes go to the family that has an address.
json legacy_to_json(const Result& r, std::string_view version) {
  json j = {{"cniVersion", version}};
  for (const auto& ip : r.ips) {
    const char* key = ip.address.family() == net::Family::kV4 ? "ip4" : "ip6";
    if (j.contains(key)) continue;
    json c = {{"ip", ip.address.str()}};
    if (ip.gateway) c["gateway"] = ip.gateway->str();
    j[key] = std::move(c);
  }
  for (const auto& rt : r.routes) {
    const char* key = rt.dst.family() == net::Family::kV4 ? "ip4" : "ip6";
    if (j.contains(key)) j[key]["routes"].push_back(route_to_json(rt, false));
  }
  put_dns(j, r.dns);
  return j;
}

Expected<net::Cidr> parse_cidr_field(const json& j, const char* field) {
  if (!j.contains(field) || !j[field].is_string()) {
    return fail(decode_failure(std::string("result: \"") + field + "\" must be a CIDR string"));
  }
  auto c = net::Cidr::parse(j[field].get<std::string>());
  if (!c) {
    return fail(decode_failure(std::string("result: \"") + field + "\" is not a CIDR: \"" +
                               j[field].get<std::string>() + "\""));
  }
  return *c;
}

Expected<std::optional<net::IpAddr>> parse_ip_field(const json& j, const char* field) {
  if (!j.contains(field) || j[field].is_null()) return std::optional<net::IpAddr>{};
  if (!j[field].is_string()) {
    return fail(decode_failure(std::string("result: \"") + field + "\" must be a string"));
  }
  auto a = net::IpAddr::parse(j[field].get<std::string>());
  if (!a) {
    return fail(decode_failure(std::string("result: \"") + field + "\" is not an IP address: \"" +
                               j[field].get<std::string>() + "\""));
  }
  return std::optional<net::IpAddr>(*a);
}

std::optional<int> opt_int(const json& j, const char* field) {
  if (j.contains(field) && j[field].is_number_integer()) return j[field].get<int>();
  return std::nullopt;
}

std::string opt_string(const json& j, const char* field) {
  if (j.contains(field) && j[field].is_string()) return j[field].get<std::string>();
  return {};
}

Expected<Route> route_from_json(const json& j) {
  if (!j.is_object()) return fail(decode_failure("result: a route must be an object"));
  Route r;
  auto dst = parse_cidr_field(j, "dst");
  if (!dst) return fail(dst.error());
  r.dst = *dst;
  auto gw = parse_ip_field(j, "gw");
  if (!gw) return fail(gw.error());
  r.gw = *gw;
  r.mtu = opt_int(j, "mtu");
  r.advmss = opt_int(j, "advmss");
  r.priority = opt_int(j, "priority");
  r.table = opt_int(j, "table");
  r.scope = opt_int(j, "scope");
  return r;
}

Expected<void> routes_from_json(const json& j, Result& out) {
  if (!j.contains("routes") || j["routes"].is_null()) return {};
  if (!j["routes"].is_array()) return fail(decode_failure("result: \"routes\" must be a list"));
  for (const auto& rj : j["routes"]) {
    auto r = route_from_json(rj);
    if (!r) return fail(r.error());
    out.routes.push_back(*r);
  }
  return {};
}

Expected<Result> legacy_from_json(const json& j) {
  Result r;
  for (const char* key : {"ip4", "ip6"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    const json& c = j[key];
    if (!c.is_object()) return fail(decode_failure(std::string("result: \"") + key + "\" must be an object"));
    IpConfig ip;
    auto addr = parse_cidr_field(c, "ip");
    if (!addr) return fail(addr.error());
    ip.address = *addr;
    auto gw = parse_ip_field(c, "gateway");
    if (!gw) return fail(gw.error());
    ip.gateway = *gw;
    r.ips.push_back(ip);
    if (auto ok = routes_from_json(c, r); !ok) return fail(ok.error());
  }
  return r;
}

}  // namespace

json dns_to_json(const Dns& dns) {
  json j = json::object();
  if (!dns.nameservers.empty()) j["nameservers"] = dns.nameservers;
  if (!dns.domain.empty()) j["domain"] = dns.domain;
  if (!dns.search.empty()) j["search"] = dns.search;
  if (!dns.options.empty()) j["options"] = dns.options;
  return j;
}

Expected<Dns> dns_from_json(const json& j) {
  Dns d;
  if (j.is_null()) return d;
  if (!j.is_object()) return fail(invalid_config("\"dns\" must be an object"));
  auto strings = [&](const char* field, std::vector<std::string>& into) -> Expected<void> {
    if (!j.contains(field) || j[field].is_null()) return {};
    if (!j[field].is_array()) {
      return fail(invalid_config(std::string("\"dns.") + field + "\" must be a list of strings"));
    }
    for (const auto& s : j[field]) {
      if (!s.is_string()) {
        return fail(invalid_config(std::string("\"dns.") + field + "\" must be a list of strings"));
      }
      into.push_back(s.get<std::string>());
    }
    return {};
  };
  if (auto ok = strings("nameservers", d.nameservers); !ok) return fail(ok.error());
  if (auto ok = strings("search", d.search); !ok) return fail(ok.error());
  if (auto ok = strings("options", d.options); !ok) return fail(ok.error());
  if (j.contains("domain") && !j["domain"].is_null()) {
    if (!j["domain"].is_string()) return fail(invalid_config("\"dns.domain\" must be a string"));
    d.domain = j["domain"].get<std::string>();
  }
  return d;
}

json result_to_json(const Result& r, std::string_view version) {
  if (!at_least(version, "0.3.0")) return legacy_to_json(r, version);
  const bool v1 = at_least(version, "1.0.0");
  const bool v11 = at_least(version, "1.1.0");
  json j = {{"cniVersion", version}};
  for (const auto& i : r.interfaces) {
    json ij = {{"name", i.name}};
    if (!i.mac.empty()) ij["mac"] = i.mac;
    if (v11 && i.mtu) ij["mtu"] = *i.mtu;
    if (!i.sandbox.empty()) ij["sandbox"] = i.sandbox;
    if (v11 && !i.socket_path.empty()) ij["socketPath"] = i.socket_path;
    if (v11 && !i.pci_id.empty()) ij["pciID"] = i.pci_id;
    j["interfaces"].push_back(std::move(ij));
  }
  for (const auto& ip : r.ips) {
    json ipj = json::object();
    if (!v1) ipj["version"] = ip.address.family() == net::Family::kV4 ? "4" : "6";
    if (ip.interface) ipj["interface"] = *ip.interface;
    ipj["address"] = ip.address.str();
    if (ip.gateway) ipj["gateway"] = ip.gateway->str();
    j["ips"].push_back(std::move(ipj));
  }
  for (const auto& rt : r.routes) j["routes"].push_back(route_to_json(rt, v11));
  put_dns(j, r.dns);
  return j;
}

Expected<Result> result_from_json(const json& j) {
  if (!j.is_object()) return fail(decode_failure("result: must be a JSON object"));
  Result r;
  if (j.contains("ip4") || j.contains("ip6")) {
    auto legacy = legacy_from_json(j);
    if (!legacy) return fail(legacy.error());
    r = std::move(*legacy);
  } else {
    if (j.contains("interfaces") && !j["interfaces"].is_null()) {
      if (!j["interfaces"].is_array()) return fail(decode_failure("result: \"interfaces\" must be a list"));
      for (const auto& ij : j["interfaces"]) {
        if (!ij.is_object()) return fail(decode_failure("result: an interface must be an object"));
        Interface i;
        i.name = opt_string(ij, "name");
        i.mac = opt_string(ij, "mac");
        if (auto mtu = opt_int(ij, "mtu")) i.mtu = static_cast<uint32_t>(*mtu);
        i.sandbox = opt_string(ij, "sandbox");
        i.socket_path = opt_string(ij, "socketPath");
        i.pci_id = opt_string(ij, "pciID");
        r.interfaces.push_back(std::move(i));
      }
    }
    if (j.contains("ips") && !j["ips"].is_null()) {
      if (!j["ips"].is_array()) return fail(decode_failure("result: \"ips\" must be a list"));
      for (const auto& ipj : j["ips"]) {
        if (!ipj.is_object()) return fail(decode_failure("result: an ip must be an object"));
        IpConfig ip;
        auto addr = parse_cidr_field(ipj, "address");
        if (!addr) return fail(addr.error());
        ip.address = *addr;
        auto gw = parse_ip_field(ipj, "gateway");
        if (!gw) return fail(gw.error());
        ip.gateway = *gw;
        ip.interface = opt_int(ipj, "interface");
        r.ips.push_back(ip);
      }
    }
    if (auto ok = routes_from_json(j, r); !ok) return fail(ok.error());
  }
  if (j.contains("dns")) {
    auto dns = dns_from_json(j["dns"]);
    if (!dns) return fail(decode_failure("result: " + dns.error().msg));
    r.dns = std::move(*dns);
  }
  return r;
}

}  // namespace weir::cni
