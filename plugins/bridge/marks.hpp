// How weir-bridge marks what it makes in the kernel, so it touches only its own: the alias on a
// bridge it made ("weir:<network>") and the one on its host veths ("weir-port:<store>:<network>/
// <container id>/<ifname>"). leftovers.hpp decides from them and the records; weirctl forget
// reads the same marks.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "lib/netlink/netlink.hpp"
#include "lib/store/store.hpp"

namespace weir::plugins::bridge {

// Bridges weir made carry this alias, so the last DEL removes only bridges weir created.
inline constexpr std::string_view kBridgeAliasPrefix = "weir:";
std::string bridge_alias(const std::string& network);
// Whether `br` is the bridge weir-bridge made for `network`.
bool made_for(const netlink::LinkInfo& br, const std::string& network);

// The bridge an endpoint record says it is on ("" when it says none); from its extra, parsed.
std::string recorded_bridge(const store::Endpoint& ep);
std::string recorded_bridge(const nlohmann::json& extra);

// Host veths carry an alias that names their store: "weir-port:<store>:" then the attachment
// ("<network>/<container id>/<ifname>", for people), <store> being 16 hex digits of a hash of
// the data dir's device and inode (every spelling of the folder gives the same). A veth on our
// bridge that no record names is a leftover of ours only with our store's mark, or with none
// at all (made before the mark): another data dir's veth on a shared bridge is never ours.
std::string store_mark(const std::string& data_dir);
// The alias of the attachment's host veth (cut to the kernel's IFALIASZ).
std::string port_alias(const std::string& mark, const std::string& network,
                       const std::string& container_id, const std::string& ifname);
// A veth with this store's mark.
bool carries_mark(const netlink::LinkInfo& link, const std::string& mark);
// With this store's mark, or none at all (made before the mark).
bool marked_ours(const netlink::LinkInfo& link, const std::string& mark);
// A veth whose mark, of any store, names this attachment (weirctl forget --force).
bool port_of(const netlink::LinkInfo& link, const std::string& network,
             const std::string& container_id, const std::string& ifname);

}  // namespace weir::plugins::bridge
