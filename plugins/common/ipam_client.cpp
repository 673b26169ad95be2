#include "plugins/common/ipam_client.hpp"

#include "lib/cni/fields.hpp"

#include "lib/cni/version.hpp"

namespace weir::plugins {

namespace {

bool in_process(const cni::Call& call) { return call.conf.ipam_type() == kWeirIpam; }
bool has_ipam(const cni::Call& call) { return !call.conf.ipam_type().empty(); }


ipam::Seams seams_of(const ipam::OpenStore& open) {
  return open.seams != nullptr ? *open.seams : ipam::Seams{};
}

}  // namespace

Expected<bool> has_ipam_section(const cni::NetConf& conf) {
  const bool section = conf.ipam.is_object() && !conf.ipam.empty();
  if (section && conf.ipam_type().empty()) {
    return fail(cni::invalid_config("\"ipam\" needs a \"type\" (or use {} for L2 only)"));
  }
  return section;
}

namespace {

// A relative folder would be the runtime's working directory's: refused, whatever the verb.
Expected<std::string> absolute_dir(std::string dir, std::string_view field) {
  if (!dir.empty() && dir[0] == '/') return dir;
  return fail(cni::invalid_config(cni::quoted(field) + " must be an absolute path, not " +
                                  cni::quoted(dir)));
}

}  // namespace

Expected<std::string> store_dir_of(const cni::NetConf& conf) {
  auto dir = cni::fields::get_string(conf.raw, "", "dataDir");
  if (!dir) return fail(dir.error());
  if (*dir) return absolute_dir(std::move(**dir), "dataDir");
  if (conf.ipam_type() != kWeirIpam) return std::string();
  auto ipam_dir = cni::fields::get_string(conf.ipam, "ipam", "dataDir");
  if (!ipam_dir) return fail(ipam_dir.error());
  if (!*ipam_dir) return std::string();
  return absolute_dir(std::move(**ipam_dir), "ipam.dataDir");
}

Expected<void> ipam_precheck(const cni::Call& call) {
  if (!in_process(call)) return {};
  if (auto ok = cni::require_args(call.env); !ok) return ok;
  auto config = ipam::parse_config(call.conf, call.env.args);
  if (!config) return fail(config.error());
  return {};
}

Expected<cni::Result> ipam_add(const cni::Call& call, const ipam::OpenStore& open) {
  if (in_process(call)) return ipam::add(call, seams_of(open), open);
  return cni::delegate_add(call, call.conf.ipam_type());
}

Expected<cni::Result> ipam_add_undoable(const cni::Call& call, const ipam::OpenStore& open,
                                        cni::Rollback& undo) {
  if (!has_ipam(call)) return cni::Result{};
  auto r = ipam_add(call, open);
  if (!r) return fail(r.error());
  undo.push("release addresses", [&call, open] { return ipam_del(call, open); });
  return r;
}

Expected<void> ipam_del(const cni::Call& call, const ipam::OpenStore& open) {
  if (!has_ipam(call)) return {};
  if (in_process(call)) return ipam::del(call, seams_of(open), open);
  return cni::delegate(call, call.conf.ipam_type(), cni::Command::kDel);
}

Expected<void> ipam_check(const cni::Call& call, const ipam::OpenStore& open) {
  if (!has_ipam(call)) return {};
  if (in_process(call)) return ipam::check(call, seams_of(open), open);
  return cni::delegate(call, call.conf.ipam_type(), cni::Command::kCheck);
}

Expected<void> ipam_status(const cni::Call& call, const ipam::OpenStore& open) {
  if (!has_ipam(call)) return {};
  if (in_process(call)) return ipam::status(call, seams_of(open), open);
  return cni::delegate(call, call.conf.ipam_type(), cni::Command::kStatus);
}

Expected<void> ipam_gc(const cni::Call& call, const std::vector<cni::Attachment>& valid,
                       const ipam::OpenStore& open) {
  if (!has_ipam(call)) return {};
  if (in_process(call)) return ipam::gc(call, valid, seams_of(open), open);
  // The delegate reads the valid attachments from the same stdin.
  return cni::delegate(call, call.conf.ipam_type(), cni::Command::kGc);
}

}  // namespace weir::plugins
