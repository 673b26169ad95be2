#include "plugins/common/endpoints.hpp"

#include <algorithm>
#include <ctime>

namespace weir::plugins {

std::string container_name(const cni::Call& call) {
  if (auto name = cni::find_arg(call.env.args, "K8S_POD_NAME"); name && !name->empty())
    return *name;
  // The config's `args` (CNI conventions: args.cni.*), or a plain args.name.
  const nlohmann::json& args = call.conf.args;
  if (!args.is_object()) return {};
  for (const auto* obj : {args.contains("cni") ? &args["cni"] : nullptr, &args}) {
    if (obj == nullptr || !obj->is_object() || !obj->contains("name")) continue;
    const auto& name = (*obj)["name"];
    if (name.is_string() && !name.get<std::string>().empty()) return name.get<std::string>();
  }
  return {};
}

Expected<void> save_endpoint(store::Store& st, const cni::Call& call, const EndpointInfo& info) {
  store::Endpoint ep{.network = call.conf.name,
                     .container_id = call.env.container_id,
                     .ifname = call.env.ifname,
                     .netns = call.env.netns,
                     .mac = info.mac,
                     .host_ifname = info.host_ifname,
                     .ips = info.ips,
                     .aliases = info.aliases,
                     .extra = info.extra.dump(),
                     .created = static_cast<int64_t>(std::time(nullptr))};
  if (auto name = container_name(call); !name.empty()) ep.names.push_back(std::move(name));
  ep.names.push_back(call.env.container_id.substr(0, 12));
  return st.transact([&](store::Txn& t) -> Expected<void> {
    if (info.admit) {
      if (auto ok = info.admit(t); !ok) return ok;
    }
    return t.put_endpoint(ep);
  });
}

Expected<std::optional<store::Endpoint>> load_endpoint(store::Store& st, const cni::Call& call) {
  std::optional<store::Endpoint> out;
  auto ok = st.view([&](store::Txn& t) -> Expected<void> {
    auto ep = t.get_endpoint(call.conf.name, call.env.container_id, call.env.ifname);
    if (!ep) return fail(ep.error());
    out = std::move(*ep);
    return {};
  });
  if (!ok) return fail(ok.error());
  return out;
}

Expected<store::Endpoint> require_endpoint(store::Store& st, const cni::Call& call) {
  auto ep = load_endpoint(st, call);
  if (!ep) return fail(ep.error());
  if (!*ep) {
    return fail(cni::check_failed("no endpoint " + call.env.container_id + "/" + call.env.ifname +
                                  " on network \"" + call.conf.name + "\""));
  }
  return std::move(**ep);
}

Expected<void> forget_endpoint(store::Store& st, const std::string& network,
                               const std::string& container_id, const std::string& ifname) {
  return st.transact([&](store::Txn& t) { return t.del_endpoint(network, container_id, ifname); });
}

Expected<std::vector<store::Endpoint>> list_endpoints(store::Store& st,
                                                      const std::string& network) {
  std::vector<store::Endpoint> out;
  auto ok = st.view([&](store::Txn& t) -> Expected<void> {
    auto eps = t.list_endpoints(network);
    if (!eps) return fail(eps.error());
    for (auto& ep : *eps) {
      if (t.owns(ep.host)) out.push_back(std::move(ep));
    }
    return {};
  });
  if (!ok) return fail(ok.error());
  return out;
}

Expected<std::vector<std::string>> parse_aliases(const cni::NetConf& conf) {
  std::vector<std::string> out;
  const auto& rc = conf.runtime_config;
  if (!rc.is_object() || !rc.contains("aliases") || rc["aliases"].is_null()) return out;
  const auto& a = rc["aliases"];
  const nlohmann::json* list = &a;
  if (a.is_object()) list = a.contains(conf.name) ? &a[conf.name] : nullptr;
  if (list == nullptr) return out;
  auto bad = [] { return fail(cni::invalid_config("\"runtimeConfig.aliases\" must list names")); };
  if (!list->is_array()) return bad();
  for (const auto& name : *list) {
    if (!name.is_string() || name.get<std::string>().empty()) return bad();
    out.push_back(name.get<std::string>());
  }
  return out;
}

Expected<bool> has_endpoints(store::Store& st, const std::string& network) {
  bool any = false;
  auto ok = st.view([&](store::Txn& t) -> Expected<void> {
    // One index probe on a store of this host alone; on a shared one, this host's are looked for.
    if (t.host().empty()) {
      auto has = t.has_endpoints(network);
      if (!has) return fail(has.error());
      any = *has;
      return {};
    }
    auto eps = t.list_endpoints(network);
    if (!eps) return fail(eps.error());
    any = std::any_of(eps->begin(), eps->end(),
                      [&](const store::Endpoint& ep) { return t.owns(ep.host); });
    return {};
  });
  if (!ok) return fail(ok.error());
  return any;
}

}  // namespace weir::plugins
