#include "ipam/config.hpp"

#include "ipam/data_dir.hpp"
#include "lib/cni/fields.hpp"
#include "lib/store/sqlite.hpp"

namespace weir::ipam {

using nlohmann::json;
namespace fields = cni::fields;

namespace {

std::string at(std::string_view where, size_t i) {
  return std::string(where) + "[" + std::to_string(i) + "]";
}

cni::Error bad(std::string_view field, std::string_view msg) {
  return cni::invalid_config(cni::quoted(field).append(" ").append(msg));
}

// `where` names obj in messages: "ipam.ranges[0][1]", or "ipam" for the legacy form.
Expected<Range> parse_range(const json& obj, std::string_view where) {
  if (!obj.is_object()) return fail(bad(where, "must be an object with a \"subnet\""));
  auto subnet = fields::get_cidr(obj, where, "subnet");
  if (!subnet) return fail(subnet.error());
  if (!*subnet) return fail(bad(fields::name(where, "subnet"), "is missing"));
  RangeParams p{.subnet = **subnet};
  auto start = fields::get_ip(obj, where, "rangeStart");
  if (!start) return fail(start.error());
  auto end = fields::get_ip(obj, where, "rangeEnd");
  if (!end) return fail(end.error());
  auto gateway = fields::get_ip(obj, where, "gateway");
  if (!gateway) return fail(gateway.error());
  p.start = *start;
  p.end = *end;
  p.gateway = *gateway;
  return make_range(p, where);
}

Expected<RangeSet> parse_range_set(const json& arr, std::string_view where) {
  if (!arr.is_array()) return fail(bad(where, "must be a list of ranges"));
  RangeSet set;
  for (size_t i = 0; i < arr.size(); ++i) {
    auto r = parse_range(arr[i], at(where, i));
    if (!r) return fail(r.error());
    set.push_back(*r);
  }
  if (auto ok = check_range_set(set, where); !ok) return fail(ok.error());
  return set;
}

Expected<void> check_sets_disjoint(const std::vector<RangeSet>& sets,
                                   const std::vector<std::string>& names) {
  for (size_t i = 0; i < sets.size(); ++i) {
    for (size_t j = i + 1; j < sets.size(); ++j) {
      for (const auto& a : sets[i]) {
        for (const auto& b : sets[j]) {
          if (!overlaps(a, b)) continue;
          return fail(
              bad(names[j], "overlaps \"" + names[i] + "\" (" + b.str() + " and " + a.str() + ")"));
        }
      }
    }
  }
  return {};
}

// The legacy top-level subnet (a set of one range) comes first, then `ranges`, as in host-local.
Expected<void> parse_range_sets(const json& ipam, IpamConfig& c) {
  std::vector<std::string> names;
  if (ipam.contains("subnet") && !ipam["subnet"].is_null()) {
    auto r = parse_range(ipam, "ipam");
    if (!r) return fail(r.error());
    c.range_sets.push_back({*r});
    names.emplace_back("ipam.subnet");
  }
  if (ipam.contains("ranges") && !ipam["ranges"].is_null()) {
    const json& ranges = ipam["ranges"];
    if (!ranges.is_array()) return fail(bad("ipam.ranges", "must be a list of range sets"));
    for (size_t i = 0; i < ranges.size(); ++i) {
      auto set = parse_range_set(ranges[i], at("ipam.ranges", i));
      if (!set) return fail(set.error());
      c.range_sets.push_back(std::move(*set));
      names.push_back(at("ipam.ranges", i));
    }
  }
  return check_sets_disjoint(c.range_sets, names);
}

Expected<cni::Route> parse_route(const json& obj, std::string_view where) {
  if (!obj.is_object()) return fail(bad(where, "must be an object with a \"dst\""));
  auto dst = fields::get_cidr(obj, where, "dst");
  if (!dst) return fail(dst.error());
  if (!*dst) return fail(bad(fields::name(where, "dst"), "is missing"));
  auto gw = fields::get_ip(obj, where, "gw");
  if (!gw) return fail(gw.error());
  if (*gw && (*gw)->family() != (*dst)->family()) {
    return fail(bad(fields::name(where, "gw"), "is of another address family than dst " +
                                                   (*dst)->str() + ": " + (*gw)->str()));
  }
  return cni::Route{.dst = **dst, .gw = *gw};
}

Expected<void> parse_routes(const json& ipam, IpamConfig& c) {
  if (!ipam.contains("routes") || ipam["routes"].is_null()) return {};
  const json& routes = ipam["routes"];
  if (!routes.is_array()) return fail(bad("ipam.routes", "must be a list of routes"));
  for (size_t i = 0; i < routes.size(); ++i) {
    auto r = parse_route(routes[i], at("ipam.routes", i));
    if (!r) return fail(r.error());
    c.routes.push_back(*r);
  }
  return {};
}

// "10.1.2.3" or "10.1.2.3/24" (the runtime's ips capability carries a prefix; it is ignored).
std::optional<net::IpAddr> parse_requested(std::string_view text) {
  if (text.find('/') != std::string_view::npos) {
    auto c = net::Cidr::parse(text);
    if (!c) return std::nullopt;
    return c->addr();
  }
  return net::IpAddr::parse(text);
}

Expected<void> add_requested(IpamConfig& c, std::string_view text, std::string source) {
  auto a = parse_requested(text);
  if (!a) return fail(bad(source, "is not an IP address: \"" + std::string(text) + "\""));
  for (const auto& r : c.requested) {
    if (r.addr == *a) return {};
  }
  c.requested.push_back({*a, std::move(source)});
  return {};
}

Expected<void> add_requested_list(IpamConfig& c, const json& parent, std::string_view where) {
  if (!parent.is_object() || !parent.contains("ips") || parent["ips"].is_null()) return {};
  const json& ips = parent["ips"];
  const std::string name = fields::name(where, "ips");
  if (!ips.is_array()) return fail(bad(name, "must be a list of IP addresses"));
  for (size_t i = 0; i < ips.size(); ++i) {
    if (!ips[i].is_string()) return fail(bad(at(name, i), "must be a string"));
    if (auto ok = add_requested(c, ips[i].get<std::string>(), at(name, i)); !ok) return ok;
  }
  return {};
}

// CNI_ARGS IP=a[,b], then args.cni.ips, then runtimeConfig.ips (host-local's order).
Expected<void> parse_requested_ips(const cni::NetConf& conf, const cni::CniArgs& args,
                                   IpamConfig& c) {
  if (auto ip = cni::find_arg(args, "IP")) {
    size_t start = 0;
    while (start <= ip->size()) {
      size_t comma = std::min(ip->find(',', start), ip->size());
      if (comma > start) {
        if (auto ok = add_requested(c, ip->substr(start, comma - start), "CNI_ARGS IP"); !ok) {
          return ok;
        }
      }
      start = comma + 1;
    }
  }
  if (conf.args.is_object() && conf.args.contains("cni")) {
    if (auto ok = add_requested_list(c, conf.args["cni"], "args.cni"); !ok) return ok;
  }
  return add_requested_list(c, conf.runtime_config, "runtimeConfig");
}

// ipam.dataDir, else the plugin's dataDir (data_dir_in), typed strictly here.
Expected<void> parse_data_dir(const cni::NetConf& conf, IpamConfig& c) {
  auto own = fields::get_string(conf.ipam, "ipam", "dataDir");
  if (!own) return fail(own.error());
  auto plugin = fields::get_string(conf.raw, "", "dataDir");
  if (!plugin) return fail(plugin.error());
  const char* field = *own ? "ipam.dataDir" : "dataDir";
  c.data_dir = own->value_or(plugin->value_or(std::string(store::kDefaultDataDir)));
  if (c.data_dir.empty() || c.data_dir[0] != '/') {
    return fail(bad(field, "must be an absolute path, not " + cni::quoted(c.data_dir)));
  }
  return {};
}

// CNI 0.1.0 and 0.2.0 results hold one address per family (ip4, ip6): a second range set of a
// family would be leased and never reported. Refused as the reference host-local refuses it.
Expected<void> check_sets_fit_version(const cni::NetConf& conf, const IpamConfig& c) {
  if (conf.cni_version != "0.1.0" && conf.cni_version != "0.2.0") return {};
  int v4 = 0, v6 = 0;
  for (const auto& set : c.range_sets) {
    (set.front().subnet.family() == net::Family::kV4 ? v4 : v6)++;
  }
  if (v4 > 1 || v6 > 1) {
    return fail(cni::invalid_config("CNI version " + conf.cni_version +
                                    " does not support more than 1 address per family: the "
                                    "ipam section has " + std::to_string(v4 > 1 ? v4 : v6) +
                                    " range sets of " + (v4 > 1 ? "IPv4" : "IPv6") +
                                    " (use cniVersion 0.3.0 or later, or one range set per family)"));
  }
  return {};
}

Expected<void> parse_options(const json& ipam, IpamConfig& c) {
  auto order = fields::get_string(ipam, "ipam", "allocation");
  if (!order) return fail(order.error());
  const std::string o = order->value_or("roundrobin");
  if (o == "roundrobin" || o == "round-robin") {
    c.order = Order::kRoundRobin;
  } else if (o == "lowest") {
    c.order = Order::kLowest;
  } else {
    return fail(bad("ipam.allocation", "must be \"roundrobin\" or \"lowest\", not \"" + o + "\""));
  }
  auto resolv = fields::get_string(ipam, "ipam", "resolvConf");
  if (!resolv) return fail(resolv.error());
  if (*resolv) {
    auto dns = read_resolv_conf(**resolv);
    if (!dns) return fail(bad("ipam.resolvConf", dns.error().msg));
    c.dns = std::move(*dns);
  }
  return {};
}

}  // namespace

Expected<IpamConfig> parse_config(const cni::NetConf& conf, const cni::CniArgs& args) {
  if (!conf.ipam.is_object()) {
    return fail(cni::invalid_config("the network config has no \"ipam\" section"));
  }
  IpamConfig c;
  c.network = conf.name;
  if (auto ok = parse_range_sets(conf.ipam, c); !ok) return fail(ok.error());
  if (auto ok = parse_routes(conf.ipam, c); !ok) return fail(ok.error());
  if (auto ok = check_sets_fit_version(conf, c); !ok) return fail(ok.error());
  if (auto ok = parse_data_dir(conf, c); !ok) return fail(ok.error());
  if (auto ok = parse_options(conf.ipam, c); !ok) return fail(ok.error());
  if (auto ok = parse_requested_ips(conf, args, c); !ok) return fail(ok.error());
  return c;
}

std::string data_dir_of(const cni::NetConf& conf) {
  return data_dir_in(conf.ipam, conf.raw);
}

}  // namespace weir::ipam
