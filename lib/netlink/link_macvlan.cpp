// Macvlan: its own attribute is the mode (IFLA_MACVLAN_MODE); the parent is the generic
// IFLA_LINK. Creating it in the container and naming it there is create_link_renamed()'s.
#include <linux/if_link.h>

#include <cerrno>
#include <string>

#include "lib/netlink/internal.hpp"

namespace weir::netlink {

using namespace detail;  // this file is part of lib/netlink

namespace {

uint32_t kernel_mode(MacvlanMode mode) {
  switch (mode) {
    case MacvlanMode::kPrivate:
      return MACVLAN_MODE_PRIVATE;
    case MacvlanMode::kVepa:
      return MACVLAN_MODE_VEPA;
    case MacvlanMode::kPassthru:
      return MACVLAN_MODE_PASSTHRU;
    case MacvlanMode::kBridge:
      break;
  }
  return MACVLAN_MODE_BRIDGE;
}

}  // namespace

namespace detail {

std::optional<MacvlanMode> macvlan_mode_from(uint32_t mode) {
  switch (mode) {
    case MACVLAN_MODE_PRIVATE:
      return MacvlanMode::kPrivate;
    case MACVLAN_MODE_VEPA:
      return MacvlanMode::kVepa;
    case MACVLAN_MODE_BRIDGE:
      return MacvlanMode::kBridge;
    case MACVLAN_MODE_PASSTHRU:
      return MacvlanMode::kPassthru;
    default:
      return std::nullopt;  // MACVLAN_MODE_SOURCE, or none reported
  }
}

}  // namespace detail

Expected<MacvlanMode> parse_macvlan_mode(std::string_view text) {
  for (MacvlanMode m :
       {MacvlanMode::kBridge, MacvlanMode::kPrivate, MacvlanMode::kVepa, MacvlanMode::kPassthru}) {
    if (text == to_string(m)) return m;
  }
  return fail(cni::invalid_config("unknown macvlan mode " + quoted(text) +
                                  " (bridge, private, vepa or passthru)"));
}

std::string_view to_string(MacvlanMode mode) {
  switch (mode) {
    case MacvlanMode::kPrivate:
      return "private";
    case MacvlanMode::kVepa:
      return "vepa";
    case MacvlanMode::kPassthru:
      return "passthru";
    case MacvlanMode::kBridge:
      break;
  }
  return "bridge";
}

namespace {

std::string macvlan_what(const MacvlanSpec& spec) {
  std::string what = "create macvlan " + quoted(spec.name) + " (mode " +
                     std::string(to_string(spec.mode)) + ") on " + ifindex_str(spec.parent);
  if (spec.netns) what += " in netns " + quoted(spec.netns->path());
  return what;
}

Expected<void> validate(const MacvlanSpec& spec, const std::string& what) {
  if (auto ok = check_ifname(spec.name, what); !ok) return ok;
  if (spec.parent <= 0) return fail(cni::invalid_config(what + ": no parent link"));
  return {};
}

}  // namespace

Expected<MessageBytes> create_macvlan_request(const MacvlanSpec& spec, std::string_view temp_name) {
  const std::string what = macvlan_what(spec);
  if (auto ok = validate(spec, what); !ok) return fail(std::move(ok.error()));
  if (auto ok = check_ifname(temp_name, what); !ok) return fail(std::move(ok.error()));
  LinkAttrs attrs{.name = std::string(temp_name), .mac = spec.mac, .netns = spec.netns,
                  .parent = spec.parent};
  if (spec.mtu != 0) attrs.mtu = spec.mtu;
  const uint32_t mode = kernel_mode(spec.mode);
  const LinkKind kind{.kind = "macvlan", .fill_data = [mode](nl_msg* msg) {
                        return nla_put_u32(msg, IFLA_MACVLAN_MODE, mode);
                      }};
  return create_request(attrs, kind, what);
}

Expected<LinkInfo> create_macvlan(Socket& host, const MacvlanSpec& spec) {
  const std::string what = macvlan_what(spec);
  if (auto ok = validate(spec, what); !ok) return fail(std::move(ok.error()));
  return create_link_renamed(
      host, spec.name, spec.netns,
      [&spec](std::string_view temp) { return create_macvlan_request(spec, temp); }, what);
}

}  // namespace weir::netlink
