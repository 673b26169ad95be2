// weirctl add|check|del|gc: the CNI verbs, run through a network's plugin chain.
#include <filesystem>
#include <iostream>

#include "lib/netns/netns.hpp"
#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

namespace {

struct VerbOptions {
  AttachOptions attach;
  std::string netns;
};

using AttachVerb = Expected<void> (*)(const Globals&, const cni::NetConfList&,
                                      const cni::AttachmentRequest&);

// CHECK and DEL of an attachment ADD cached: the capability args and CNI_ARGS it was added
// with, as libcni keeps them (GetNetworkListCachedConfig), so that `check` sees the runtimeConfig
// ADD got without repeating --cap. What the command line gives wins, capability by capability.
void use_cached_args(const Globals& g, const cni::NetConfList& net, cni::AttachmentRequest& req,
                     bool args_given) {
  for (const auto& c : make_runtime(g).cached(net)) {
    if (c.request.container_id != req.container_id || c.request.ifname != req.ifname) continue;
    nlohmann::json caps = c.request.capability_args;
    for (const auto& [k, v] : req.capability_args.items()) caps[k] = v;
    req.capability_args = std::move(caps);
    if (!args_given) req.args = c.request.args;
    return;
  }
}

int run_attach_verb(const Globals& g, const VerbOptions& o, std::string_view verb, AttachVerb fn) {
  auto net = load(g, o.attach.network);
  if (!net) return print_error(g, verb, net.error());
  auto req = make_request(o.attach, netns::resolve_path(o.netns));
  if (!req) return print_error(g, verb, req.error());
  if (verb != "add") use_cached_args(g, *net, *req, !o.attach.args.empty());
  if (auto ok = fn(g, *net, *req); !ok) return print_error(g, verb, ok.error());
  return 0;
}

void add_verb(CLI::App& app, Globals& g, int& exit_code, const char* name, const char* help,
              AttachVerb fn, bool netns_required) {
  auto o = std::make_shared<VerbOptions>();
  auto* cmd = app.add_subcommand(name, help);
  cmd->add_option("network", o->attach.network, "network name in NETCONFPATH, or a config file")->required();
  cmd->add_option("netns", o->netns, "netns path, or a name under /var/run/netns")->required(netns_required);
  add_attach_options(*cmd, o->attach);
  cmd->callback([&g, &exit_code, o, name, fn] { exit_code = run_attach_verb(g, *o, name, fn); });
}

}  // namespace

void register_verbs(CLI::App& app, Globals& g, int& exit_code) {
  add_verb(app, g, exit_code, "add", "attach a netns to a network (CNI ADD)",
           [](const Globals& g, const cni::NetConfList& net, const cni::AttachmentRequest& req) -> Expected<void> {
             auto r = make_runtime(g).add(net, req);
             if (!r) return fail(r.error());
             print_result(g, net, *r);
             return {};
           }, true);
  add_verb(app, g, exit_code, "check", "verify an attachment (CNI CHECK)",
           [](const Globals& g, const cni::NetConfList& net, const cni::AttachmentRequest& req) -> Expected<void> {
             auto ok = make_runtime(g).check(net, req);
             if (ok && !g.json) std::cout << "ok: " << req.container_id << "/" << req.ifname << " on \"" << net.name << "\"\n";
             return ok;
           }, true);
  add_verb(app, g, exit_code, "del", "detach a netns from a network (CNI DEL)",
           [](const Globals& g, const cni::NetConfList& net, const cni::AttachmentRequest& req) {
             return make_runtime(g).del(net, req);
           }, false);

  auto gc_net = std::make_shared<std::string>();
  auto* gc = app.add_subcommand("gc", "remove what is left of attachments whose netns is gone (CNI GC)");
  gc->add_option("network", *gc_net, "network name or config file")->required();
  gc->add_option("netns", "ignored; accepted so every verb takes the same arguments");
  gc->callback([&g, &exit_code, gc_net] {
    auto net = load(g, *gc_net);
    if (!net) {
      exit_code = print_error(g, "gc", net.error());
      return;
    }
    // Valid: the cached attachments whose netns still exists.
    auto rt = make_runtime(g);
    std::vector<cni::Attachment> valid;
    for (const auto& c : rt.cached(*net)) {
      std::error_code ec;
      if (!c.request.netns.empty() && std::filesystem::exists(c.request.netns, ec)) {
        valid.push_back({c.request.container_id, c.request.ifname});
      }
    }
    if (auto ok = rt.gc(*net, valid); !ok) exit_code = print_error(g, "gc", ok.error());
  });
}

}  // namespace weir::ctl
