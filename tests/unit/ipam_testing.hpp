// Helpers shared by the store and ipam tests: temp folders (tests/support/tempdir.hpp), address
// literals, and CNI calls built without a process.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "ipam/ipam.hpp"
#include "lib/cni/config.hpp"
#include "lib/net/addr.hpp"
#include "tests/support/tempdir.hpp"  // IWYU pragma: export

namespace weir::test {

inline net::IpAddr ip(std::string_view s) {
  auto a = net::IpAddr::parse(s);
  EXPECT_TRUE(a) << s;
  return a.value_or(net::IpAddr{});
}

inline net::Cidr cidr(std::string_view s) {
  auto c = net::Cidr::parse(s);
  EXPECT_TRUE(c) << s;
  return c.value_or(net::Cidr{});
}

// Seams without the host: no routes, a fixed boot id, every netns exists, a fixed clock.
inline ipam::Seams quiet_seams() {
  return {.host_routes = [] { return Expected<std::vector<net::Cidr>>(std::vector<net::Cidr>{}); },
          .boot_id = [] { return std::string("boot-1"); },
          .netns_exists = [](const std::string&) { return true; },
          .now = [] { return int64_t{1000}; }};
}

struct CallArgs {
  std::string container_id = "ctr1";
  std::string ifname = "eth0";
  std::string netns = "/var/run/netns/test";
  std::string cni_args{};
};

// A Call as plugin_main would hand it over, for config `conf` (cniVersion/name filled in).
inline cni::Call make_call(nlohmann::json conf, const CallArgs& a = {}) {
  if (!conf.contains("cniVersion")) conf["cniVersion"] = "1.1.0";
  if (!conf.contains("name")) conf["name"] = "net1";
  if (!conf.contains("type")) conf["type"] = "weir-ipam";
  auto parsed = cni::parse_netconf(conf.dump());
  EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().msg);
  cni::Call call;
  call.conf = parsed.value_or(cni::NetConf{});
  call.stdin_bytes = conf.dump();
  call.env.command = cni::Command::kAdd;
  call.env.container_id = a.container_id;
  call.env.ifname = a.ifname;
  call.env.netns = a.netns;
  call.env.args_raw = a.cni_args;
  auto args = cni::parse_cni_args(a.cni_args);
  EXPECT_TRUE(args);
  call.env.args = args.value_or(cni::CniArgs{});
  return call;
}

}  // namespace weir::test
