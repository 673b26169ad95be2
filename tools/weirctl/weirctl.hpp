// weirctl: run CNI verbs by hand, start throw-away containers, and (later) look at leases, DNS
// and overlay peers. One file per subcommand; this header is what they share.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "lib/cni/runtime.hpp"

namespace weir::ctl {

struct Globals {
  bool json = false;
  std::vector<std::string> conf_dirs;  // NETCONFPATH, default /etc/cni/net.d
  std::vector<std::string> plugin_path;  // CNI_PATH, default /opt/cni/bin
  std::string cache_dir = "/var/lib/cni";
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

// Printing: human text by default, JSON with --json.
void print_result(const Globals& g, const cni::NetConfList& net, const cni::Result& r);
int print_error(const Globals& g, std::string_view what, const cni::Error& e);

void register_verbs(CLI::App& app, Globals& g, int& exit_code);
void register_run(CLI::App& app, Globals& g, int& exit_code);
void register_ipam(CLI::App&, Globals&, int&);
void register_dns(CLI::App&, Globals&, int&);

}  // namespace weir::ctl
