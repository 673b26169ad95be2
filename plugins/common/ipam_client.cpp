#include "plugins/common/ipam_client.hpp"

#include "lib/cni/version.hpp"

namespace weir::plugins {

namespace {

bool in_process(const cni::Call& call) { return call.conf.ipam_type() == kWeirIpam; }
bool has_ipam(const cni::Call& call) { return !call.conf.ipam_type().empty(); }

}  // namespace

Expected<cni::Result> ipam_add(const cni::Call& call, const ipam::OpenStore& open) {
  if (in_process(call)) return ipam::add(call, {}, open);
  return cni::delegate_add(call, call.conf.ipam_type());
}

Expected<void> ipam_del(const cni::Call& call, const ipam::OpenStore& open) {
  if (!has_ipam(call)) return {};
  if (in_process(call)) return ipam::del(call, {}, open);
  return cni::delegate(call, call.conf.ipam_type(), cni::Command::kDel);
}

Expected<void> ipam_check(const cni::Call& call, const ipam::OpenStore& open) {
  if (!has_ipam(call)) return {};
  if (in_process(call)) return ipam::check(call, {}, open);
  return cni::delegate(call, call.conf.ipam_type(), cni::Command::kCheck);
}

Expected<void> ipam_status(const cni::Call& call, const ipam::OpenStore& open) {
  if (!has_ipam(call)) return {};
  if (in_process(call)) return ipam::status(call, {}, open);
  return cni::delegate(call, call.conf.ipam_type(), cni::Command::kStatus);
}

Expected<void> ipam_gc(const cni::Call& call, const std::vector<cni::Attachment>& valid,
                       const ipam::OpenStore& open) {
  if (!has_ipam(call)) return {};
  if (in_process(call)) return ipam::gc(call, valid, {}, open);
  // The delegate reads the valid attachments from the same stdin.
  return cni::delegate(call, call.conf.ipam_type(), cni::Command::kGc);
}

}  // namespace weir::plugins
