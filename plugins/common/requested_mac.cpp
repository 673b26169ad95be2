#include "plugins/common/requested_mac.hpp"

#include "lib/cni/fields.hpp"

namespace weir::plugins {

Expected<std::optional<net::Mac>> requested_mac(const cni::Call& call) {
  // DEL stays tolerant: it needs no argument to undo what ADD made.
  if (call.env.command != cni::Command::kDel) {
    if (auto ok = cni::require_args(call.env); !ok) return fail(ok.error());
  }
  auto mac = cni::fields::get_mac(call.conf.raw, "", "mac");
  if (!mac) return fail(mac.error());
  std::optional<net::Mac> out = *mac;
  if (auto arg = cni::find_arg(call.env.args, "MAC")) {
    auto parsed = net::Mac::parse(*arg);
    if (!parsed) return fail(cni::invalid_config("CNI_ARGS MAC is not a MAC address: \"" + *arg + "\""));
    out = *parsed;
  }
  // The reference plugins' order: CNI_ARGS MAC < args.cni.mac < runtimeConfig.mac.
  if (call.conf.args.is_object() && call.conf.args.contains("cni")) {
    auto cni_mac = cni::fields::get_mac(call.conf.args["cni"], "args.cni", "mac");
    if (!cni_mac) return fail(cni_mac.error());
    if (*cni_mac) out = **cni_mac;
  }
  auto rc = cni::fields::get_mac(call.conf.runtime_config, "runtimeConfig", "mac");
  if (!rc) return fail(rc.error());
  if (*rc) out = **rc;
  if (out && (out->data()[0] & 1)) {
    return fail(cni::invalid_config("mac " + out->str() + " is a multicast address"));
  }
  return out;
}

}  // namespace weir::plugins
