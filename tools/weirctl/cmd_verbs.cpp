// weirctl add|check|del|gc|status: the CNI verbs, run through a network's plugin chain.
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

int run_attach_verb(const Globals& g, const VerbOptions& o, std::string_view verb, AttachVerb fn) {
  auto net = load(g, o.attach.network);
  if (!net) return print_error(g, verb, net.error());
  auto req = make_request(o.attach, netns::resolve_path(o.netns));
  if (!req) return print_error(g, verb, req.error());
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

  auto st_net = std::make_shared<std::string>();
  auto* st = app.add_subcommand("status", "ask every plugin of a network whether it can take ADDs (CNI STATUS)");
  st->add_option("network", *st_net, "network name or config file")->required();
  st->add_option("netns", "ignored; accepted so every verb takes the same arguments");
  st->callback([&g, &exit_code, st_net] {
    auto net = load(g, *st_net);
    if (!net) {
      exit_code = print_error(g, "status", net.error());
      return;
    }
    if (auto ok = make_runtime(g).status(*net); !ok) {
      exit_code = print_error(g, "status", ok.error());
    } else if (!g.json) {
      std::cout << "ok: network \"" << net->name << "\" is ready\n";
    }
  });
}

}  // namespace weir::ctl
