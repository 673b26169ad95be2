// Kernel parameters under /proc/sys, without exec'ing sysctl(8).
//
// /proc/sys/net is per network namespace, and the namespace is the one of the *thread* that
// opens the file (the kernel resolves the path against current->nsproxy->net_ns on lookup),
// not the process's, nor the one /proc was mounted in. A file opened in a netns keeps acting on
// that netns, whichever thread then reads or writes it. So set_sysctl() acts in the calling
// thread's netns, and set_sysctl_in() enters ns for the duration of the call (run_in).
#pragma once

#include <string>
#include <string_view>

#include "lib/cni/error.hpp"
#include "lib/netns/netns.hpp"

namespace weir::netlink {

// A key is "net.ipv4.ip_forward" (dots become slashes) or, when it contains a '/',
// "net/ipv4/conf/eth0.100/arp_notify" taken as is: use slashes when an interface name in it
// may contain a dot. "." and ".." components, empty components and a leading '/' fail with
// Code::kInvalidConfig. Returns the path under /proc/sys.
Expected<std::string> sysctl_path(std::string_view key);

// Writes value, unless the file already reads value (some writes have side effects even when
// nothing changes). A missing key (e.g. a link that is not there) fails with sys_errno ENOENT.
Expected<void> set_sysctl(std::string_view key, std::string_view value);
// The value without its trailing newline.
Expected<std::string> get_sysctl(std::string_view key);

Expected<void> set_sysctl_in(const netns::Handle& ns, std::string_view key, std::string_view value);
Expected<std::string> get_sysctl_in(const netns::Handle& ns, std::string_view key);

}  // namespace weir::netlink
