// weirctl: run CNI verbs by hand, start throw-away containers, and (later) look at leases, DNS
// and overlay peers. One file per subcommand; this header is what they share.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ipam/ipam.hpp"
#include "lib/cni/runtime.hpp"
#include "lib/store/backend.hpp"
#include "lib/store/sqlite.hpp"

namespace weir::ctl {

struct Globals {
  bool json = false;
  std::vector<std::string> conf_dirs;  // NETCONFPATH, default /etc/cni/net.d
  std::vector<std::string> plugin_path;  // CNI_PATH, default /opt/cni/bin:/usr/lib/cni
  std::string cache_dir = "/var/lib/cni";
  std::string store_file;  // --store: a JSON file with a "store" object ("" = /etc/weir/store.json)
  int argc = 0;            // the command line as given: weirctl runs again with it as
  char** argv = nullptr;   // weir-cluster when the store is etcd (run_in_cluster)
};

// Options shared by the attachment verbs (add, check, del, run).
struct AttachOptions {
  std::string network;
  std::string container_id;
  std::string ifname = "eth0";
  std::string args;
  std::vector<std::string> caps;  // KEY=JSON
};

void add_attach_options(CLI::App& cmd, AttachOptions& o);
Expected<cni::AttachmentRequest> make_request(const AttachOptions& o, const std::string& netns);
cni::Runtime make_runtime(const Globals& g);
Expected<cni::NetConfList> load(const Globals& g, const std::string& network);

// What NETWORK names: its config when one is found (a name in NETCONFPATH or a file), and the
// store folder: --data-dir, else the config's dataDir (or ipam.dataDir), else the default.
struct NetworkRef {
  std::string name;  // the network's name (a config file argument is replaced by it)
  std::optional<cni::NetConfList> config;
  std::string data_dir;
};
NetworkRef find_network(const Globals& g, const std::string& network, const std::string& data_dir);
// The store folder a network config names: the first plugin's dataDir, else its ipam.dataDir.
std::optional<std::string> data_dir_of(const cni::NetConfList& list);
// The weir-ipam section of a network config, parsed as weir-ipam parses it.
std::optional<ipam::IpamConfig> ipam_config_of(const cni::NetConfList& list);
// Opens an existing store only, as it is: looking must not create one, nor sweep it.
Expected<store::SqliteStore> open_existing_store(const std::string& data_dir);
// Whether the store has anything of the network: its record, a lease or an endpoint.
Expected<bool> known_in_store(store::Txn& txn, std::string_view network);
// The error for a NETWORK that neither a config nor the store knows (code 7).
cni::Error no_such_network(const Globals& g, std::string_view network, std::string_view data_dir,
                           const store::Backend& backend = {});

// Which store a command works on (lib/store/backend.hpp): the --store file, else the network
// config's "store" (or ipam.store), else /etc/weir/store.json, else SQLite in the data dir.
// Code 7 naming the file and the field when one of them is bad.
Expected<store::Backend> backend_of(const Globals& g,
                                    const std::optional<cni::NetConfList>& config = {});
// Where an etcd store is: "etcd http://…, prefix /weir"; for SQLite, the file.
std::string store_name(const store::Backend& b, const std::string& data_dir);
// Runs this weirctl again as weir-cluster (same arguments) when the store is etcd and this
// program has none; returns when the command stays here, or the error.
Expected<void> where_the_store_is(const Globals& g, const store::Backend& b);
// Opens the store to read: SQLite as open_existing_store, etcd in weir-cluster (above).
Expected<std::unique_ptr<store::Store>> open_records(const Globals& g, const store::Backend& b,
                                                     const std::string& data_dir);
// Commands that work on the SQLite file of a data dir refuse an etcd store (code 2).
cni::Error sqlite_only(std::string_view command, const store::Backend& b);

// The weir-agent that serves a data dir (agent::running_agent), and where it answers DNS for
// one network, as it derives that from the store's endpoint records (dns::plan_from).
struct AgentView {
  std::optional<pid_t> pid;
  std::string data_dir;
  std::string log;
  bool dns = false;  // the network has the embedded DNS (an endpoint marked for it)
  std::vector<std::string> dns_listen;  // its addresses in the host; 127.0.0.11 when in each netns
  bool dns_in_netns = false;
  std::vector<std::string> upstreams;  // the network's own; empty = the host's resolvers
};
AgentView agent_view(const std::string& data_dir, const std::string& network,
                     const std::vector<store::Endpoint>& endpoints);
nlohmann::json agent_json(const AgentView& a);
// "weir-agent 123 serves DIR, log LOG" or "no agent running for DIR".
std::string agent_text(const AgentView& a);
// "DNS on 10.0.0.1 (upstreams of the host)", "DNS on 127.0.0.11 in each container", "no DNS".
std::string dns_text(const AgentView& a);

// Printing: human text by default, JSON with --json.
void print_result(const Globals& g, const cni::NetConfList& net, const cni::Result& r);
int print_error(const Globals& g, std::string_view what, const cni::Error& e);

void register_verbs(CLI::App& app, Globals& g, int& exit_code);
void register_run(CLI::App& app, Globals& g, int& exit_code);
void register_ipam(CLI::App&, Globals&, int&);
void register_dns(CLI::App&, Globals&, int&);
void register_status(CLI::App&, Globals&, int&);
void register_inspect(CLI::App&, Globals&, int&);
void register_forget(CLI::App&, Globals&, int&);
void register_store(CLI::App&, Globals&, int&);

// What `weirctl store status` shows of an etcd store: endpoints and their health, revision,
// key counts, hosts, this host's presence. Only weir-cluster can ask etcd: its weirctl sets
// this (cmd_store_etcd.cpp); in `weir` it is null, and weirctl runs again as weir-cluster first.
// On failure it still returns what it saw, with "ok": false and "error": {code, msg}.
using EtcdStatusFn = nlohmann::json (*)(const store::Backend& b, const std::string& network);
void set_etcd_status(EtcdStatusFn fn);
EtcdStatusFn etcd_status();

// Parses argv into app; a parse error is reported as a person needs it: an unknown command is
// named, with the commands at that level and the closest one. Returns the exit code to use on
// an error or after --help/--version, nullopt when the commands ran.
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv);

}  // namespace weir::ctl
