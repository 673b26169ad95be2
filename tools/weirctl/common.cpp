#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "agent/client/handoff.hpp"
#include "lib/cni/plugin.hpp"
#include "lib/cni/version.hpp"
#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

using nlohmann::json;

void add_attach_options(CLI::App& cmd, AttachOptions& o) {
  cmd.add_option("--container-id", o.container_id, "container id (default: the netns name)");
  cmd.add_option("--ifname", o.ifname, "interface name inside the container")->capture_default_str();
  cmd.add_option("--args", o.args, "CNI_ARGS, as K=V;K=V");
  cmd.add_option("--cap", o.caps, "capability argument KEY=JSON, e.g. portMappings='[…]'");
}

Expected<cni::AttachmentRequest> make_request(const AttachOptions& o, const std::string& netns) {
  cni::AttachmentRequest r;
  r.netns = netns;
  r.ifname = o.ifname;
  r.args = o.args;
  r.container_id = o.container_id;
  if (r.container_id.empty()) r.container_id = netns.substr(netns.find_last_of('/') + 1);
  for (const auto& cap : o.caps) {
    auto eq = cap.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail(cni::invalid_config("--cap \"" + cap + "\" is not KEY=JSON"));
    }
    json v = json::parse(cap.substr(eq + 1), nullptr, false);
    if (v.is_discarded()) {
      return fail(cni::decode_failure("--cap " + cap.substr(0, eq) + ": the value is not JSON"));
    }
    r.capability_args[cap.substr(0, eq)] = std::move(v);
  }
  return r;
}

cni::Runtime make_runtime(const Globals& g) {
  return cni::Runtime({.plugin_path = g.plugin_path, .cache_dir = g.cache_dir, .stderr_sink = &std::cerr});
}

Expected<cni::NetConfList> load(const Globals& g, const std::string& network) {
  return cni::load_network(network, g.conf_dirs);
}

std::optional<std::string> data_dir_of(const cni::NetConfList& list) {
  for (const auto& plugin : list.plugins) {
    if (plugin.contains("dataDir") && plugin["dataDir"].is_string()) {
      return plugin["dataDir"].get<std::string>();
    }
    if (plugin.contains("ipam") && plugin["ipam"].is_object() &&
        plugin["ipam"].contains("dataDir") && plugin["ipam"]["dataDir"].is_string()) {
      return plugin["ipam"]["dataDir"].get<std::string>();
    }
  }
  return std::nullopt;
}

std::optional<ipam::IpamConfig> ipam_config_of(const cni::NetConfList& list) {
  for (const auto& plugin : list.plugins) {
    bool ours = plugin.value("type", "") == ipam::kPluginName ||
                (plugin.contains("ipam") && plugin["ipam"].is_object() &&
                 plugin["ipam"].value("type", "") == ipam::kPluginName);
    if (!ours) continue;
    json j = plugin;
    j["name"] = list.name;
    j["cniVersion"] = list.cni_version;
    auto conf = cni::parse_netconf(j.dump());
    if (!conf) continue;
    auto c = ipam::parse_config(*conf, {});
    if (c) return *c;
  }
  return std::nullopt;
}

NetworkRef find_network(const Globals& g, const std::string& network, const std::string& data_dir) {
  NetworkRef ref{.name = network, .data_dir = std::string(store::kDefaultDataDir)};
  if (!network.empty()) {
    if (auto list = load(g, network)) {
      ref.name = list->name;
      if (auto d = data_dir_of(*list)) ref.data_dir = *d;
      ref.config = std::move(*list);
    }
  }
  if (!data_dir.empty()) ref.data_dir = data_dir;
  return ref;
}

Expected<store::SqliteStore> open_existing_store(const std::string& data_dir) {
  const std::string path = store::database_path(data_dir);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return fail(cni::sys_error(errno, "store \"" + path + "\"", cni::Code::kStore));
  }
  return store::SqliteStore::open(path, {.create = false});  // looking needs no write access
}

Expected<bool> known_in_store(store::Txn& txn, std::string_view network) {
  auto rec = txn.get_network(network);
  if (!rec) return fail(rec.error());
  if (*rec) return true;
  auto eps = txn.has_endpoints(network);
  if (!eps) return fail(eps.error());
  if (*eps) return true;
  auto leases = txn.list_leases(network);
  if (!leases) return fail(leases.error());
  return !leases->empty();
}

cni::Error no_such_network(const Globals& g, std::string_view network, std::string_view data_dir,
                           const store::Backend& backend) {
  std::string where;
  for (const auto& d : g.conf_dirs) where += (where.empty() ? "" : ":") + d;
  return cni::invalid_config(
      "no network \"" + std::string(network) + "\": no config in \"" + where +
      "\" and nothing in the store \"" + store_name(backend, std::string(data_dir)) +
      "\" (set NETCONFPATH, or " + (backend.etcd_backed() ? "--store" : "--data-dir") + ")");
}

namespace {

// --store FILE: {"store": {…}} (a network config's shape) or the store object itself (the
// host-wide file's); errors name the file and the field.
Expected<store::Backend> backend_from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return fail(cni::invalid_config("--store " + cni::quoted(path) + ": " + std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  const json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded())
    return fail(cni::invalid_config("--store " + cni::quoted(path) + " is not JSON"));
  if (j.is_object() && j.contains("store") && !j.contains("type")) {
    return store::parse_backend(j["store"], path + ": store");
  }
  return store::parse_backend(j, path);
}

}  // namespace

Expected<store::Backend> backend_of(const Globals& g,
                                    const std::optional<cni::NetConfList>& config) {
  if (!g.store_file.empty()) return backend_from_file(g.store_file);
  if (config) {
    // The plugin that says where its records are (weir-ipam's section, or a plugin's "store").
    for (const auto& plugin : config->plugins) {
      const bool says =
          plugin.contains("store") || (plugin.contains("ipam") && plugin["ipam"].is_object() &&
                                       plugin["ipam"].contains("store"));
      if (says) return store::backend_for(plugin);
    }
  }
  return store::backend_for(json::object());
}

std::string store_name(const store::Backend& b, const std::string& data_dir) {
  if (!b.etcd_backed()) return store::database_path(data_dir);
  std::string out = "etcd";
  for (const auto& e : b.etcd.endpoints) out += " " + e;
  return out + ", prefix " + b.prefix;
}

Expected<void> where_the_store_is(const Globals& g, const store::Backend& b) {
  if (!b.etcd_backed() || store::etcd_linked()) return {};
  std::cout.flush();
  std::cerr.flush();
  return agent::run_in_cluster("weirctl", g.argc, g.argv);
}

Expected<std::unique_ptr<store::Store>> open_records(const Globals& g, const store::Backend& b,
                                                     const std::string& data_dir) {
  if (!b.etcd_backed()) {
    auto db = open_existing_store(data_dir);
    if (!db) return fail(db.error());
    return std::unique_ptr<store::Store>(std::make_unique<store::SqliteStore>(std::move(*db)));
  }
  if (auto ok = where_the_store_is(g, b); !ok) return fail(ok.error());
  return store::open_backend(b, data_dir);
}

cni::Error sqlite_only(std::string_view command, const store::Backend& b) {
  return cni::make_error(
      cni::Code::kUnsupportedField,
      std::string(command) + " works on the SQLite file of a data dir, and the store is " +
          store_name(b, {}) + " (" + b.origin +
          "): see `weirctl store status`, or give --store a file with "
          "{\"store\": {\"type\": \"sqlite\"}} to work on a data dir's SQLite file");
}

namespace {
std::atomic<EtcdStatusFn> g_etcd_status{nullptr};
}  // namespace

void set_etcd_status(EtcdStatusFn fn) {
  g_etcd_status.store(fn);
}

EtcdStatusFn etcd_status() {
  return g_etcd_status.load();
}

void print_result(const Globals& g, const cni::NetConfList& net, const cni::Result& r) {
  if (g.json) {
    std::cout << cni::result_to_json(r, net.cni_version).dump(2) << "\n";
    return;
  }
  std::cout << "network \"" << net.name << "\"\n";
  for (size_t i = 0; i < r.interfaces.size(); ++i) {
    const auto& itf = r.interfaces[i];
    std::cout << "  " << itf.name;
    if (!itf.mac.empty()) std::cout << "  " << itf.mac;
    if (!itf.sandbox.empty()) std::cout << "  in " << itf.sandbox;
    std::cout << "\n";
    for (const auto& ip : r.ips) {
      if (ip.interface && *ip.interface == static_cast<int>(i)) {
        std::cout << "    " << ip.address.str();
        if (ip.gateway) std::cout << " via " << ip.gateway->str();
        std::cout << "\n";
      }
    }
  }
  for (const auto& ip : r.ips) {
    if (!ip.interface) {
      std::cout << "  " << ip.address.str();
      if (ip.gateway) std::cout << " via " << ip.gateway->str();
      std::cout << "\n";
    }
  }
  for (const auto& rt : r.routes) {
    std::cout << "  route " << rt.dst.str();
    if (rt.gw) std::cout << " via " << rt.gw->str();
    std::cout << "\n";
  }
  if (!r.dns.nameservers.empty()) {
    std::cout << "  dns";
    for (const auto& ns : r.dns.nameservers) std::cout << " " << ns;
    if (!r.dns.search.empty()) std::cout << " search " << r.dns.search[0];
    std::cout << "\n";
  }
}

int print_error(const Globals& g, std::string_view what, const cni::Error& e) {
  if (g.json) {
    std::cout << cni::error_to_json(e, cni::kCurrentVersion).dump(2) << "\n";
  } else {
    std::cerr << "weirctl: " << what << ": " << e.msg;
    if (!e.details.empty()) std::cerr << " (" << e.details << ")";
    std::cerr << " [CNI error " << e.code_value() << "]\n";
  }
  return 1;
}

}  // namespace weir::ctl
