// The runtime side of the protocol, as libcni does it: find a network config, run its plugin
// chain with prevResult threading and capabilities, and cache results so DEL and CHECK get
// their prevResult. weirctl and the tests drive plugins through this.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/cni/config.hpp"
#include "lib/cni/env.hpp"
#include "lib/cni/error.hpp"
#include "lib/cni/result.hpp"

namespace weir::cni {

// NAME is looked up among the .conf/.conflist/.json files of `dirs` (sorted by file name, as
// libcni does); an argument with a '/' or naming an existing file is read as a path.
Expected<NetConfList> load_network(std::string_view name_or_path,
                                   const std::vector<std::string>& dirs);

struct RuntimeOptions {
  // Where containerd's ctr looks on Debian (upstream: /opt/cni/bin), podman among others.
  std::vector<std::string> plugin_path = {"/opt/cni/bin", "/usr/lib/cni"};
  std::string cache_dir = "/var/lib/cni";
  std::ostream* stderr_sink = nullptr;  // plugins' stderr
};

struct AttachmentRequest {
  std::string container_id;
  std::string netns;
  std::string ifname = "eth0";
  std::string args;  // CNI_ARGS
  nlohmann::json capability_args = nlohmann::json::object();  // capability name -> value
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions opts) : opts_(std::move(opts)) {}

  // Runs ADD through the chain and caches the final result.
  Expected<Result> add(const NetConfList& net, const AttachmentRequest& att) const;
  // Runs DEL in reverse order with the cached result as prevResult, then drops the cache entry.
  Expected<void> del(const NetConfList& net, const AttachmentRequest& att) const;
  // Runs CHECK with the cached result (skipped when the list says disableCheck).
  Expected<void> check(const NetConfList& net, const AttachmentRequest& att) const;
  // Runs GC on every plugin with the valid attachments; first DELs cached attachments that are
  // not valid (libcni's order).
  Expected<void> gc(const NetConfList& net, const std::vector<Attachment>& valid) const;
  Expected<void> status(const NetConfList& net) const;

  // Attachments with a cached result on this network, with their netns.
  struct Cached {
    AttachmentRequest request;
    Result result;
  };
  std::vector<Cached> cached(const NetConfList& net) const;

 private:
  Expected<std::string> invoke(const NetConfList& net, const nlohmann::json& plugin,
                               Command command, const AttachmentRequest& att,
                               const nlohmann::json& extra) const;
  std::string cache_path(const NetConfList& net, const AttachmentRequest& att) const;
  std::optional<Result> cached_result(const NetConfList& net, const AttachmentRequest& att) const;

  RuntimeOptions opts_;
};

}  // namespace weir::cni
