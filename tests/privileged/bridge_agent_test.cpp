// weir-bridge's two ways of running a call (plugins/front/front.cpp): in weir-bridge-local, or in the
// weir-agent of its data dir, which a successful local ADD starts in the background and which
// runs ADD and DEL on the store it keeps open. Through the real binaries, in private host and
// container netns.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "agent/client/control.hpp"
#include "tests/support/bridge_fixture.hpp"
#include "tests/support/dns_fixture.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test::bridge {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

std::string agent_log(const Host& host) {
  return dns_fixture::agent_log(host.data_dir());
}

// The agent is started in the background: wait until it listens.
bool agent_listening(const Host& host) {
  const auto socket = agent::paths_for(host.data_dir()).socket;
  return dns_fixture::wait_until(
      [&] { return agent::running_agent(host.data_dir()) && std::filesystem::exists(socket); }, 3s);
}

TEST(BridgeAgent, RunsTheCallsAfterTheFirstAdd) {
  WEIR_REQUIRE_ROOT();
  Host host;
  json conf = bridge_conf(host, "anet", "wba0", {"10.44.0.0/24"});
  conf["isDefaultGateway"] = true;
  Container a("ag-a");
  Container b("ag-b");
  auto first = host.add(a, conf);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  ASSERT_TRUE(agent_listening(host)) << "a successful ADD starts weir-agent in the background";
  EXPECT_THAT(agent_log(host), Not(HasSubstr("serving weir-bridge calls")));

  auto second = host.add(b, conf);
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_THAT(agent_log(host), HasSubstr("serving weir-bridge calls"));
  EXPECT_EQ(second.json()["ips"][0]["address"], "10.44.0.3/24");
  EXPECT_EQ(b.addr(), "10.44.0.3");
  EXPECT_TRUE(b.ping("10.44.0.2")) << "the agent's container reaches the first one";
  EXPECT_TRUE(b.ping("10.44.0.1"));

  // A refused call gets the same answer from the agent as from weir-bridge-local.
  auto again = host.add(b, conf);
  auto again_local = host.plugin("ADD", b.path(), b.id, conf, {}, "eth0", "weir-bridge-local");
  EXPECT_EQ(again.exit_code, 1) << again.out;
  EXPECT_EQ(again.exit_code, again_local.exit_code);
  EXPECT_EQ(again.out, again_local.out);
  EXPECT_EQ(again.err, again_local.err);
  EXPECT_THAT(again.out, HasSubstr("DEL it first"));
  // CHECK runs in weir-bridge-local and finds what the agent made.
  auto check = host.check(b, conf);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  // DEL in the agent: the veth goes on its reaper thread, under reaper.lock (link_exists waits).
  const std::string veth = second.json()["interfaces"][1]["name"];
  auto del_b = host.del(b, conf);
  ASSERT_EQ(del_b.exit_code, 0) << del_b.out << del_b.err;
  EXPECT_FALSE(host.link_exists(veth));
  EXPECT_EQ(host.lease_count("anet"), 1u);
  EXPECT_TRUE(agent::running_agent(host.data_dir())) << "a container is left, whose DEL it runs";
  auto del_b_again = host.del(b, conf);
  EXPECT_EQ(del_b_again.exit_code, 0) << del_b_again.out << del_b_again.err;

  auto del_a = host.del(a, conf);
  ASSERT_EQ(del_a.exit_code, 0) << del_a.out << del_a.err;
  EXPECT_TRUE(dns_fixture::agent_gone(host.data_dir(), 3s)) << "nothing left to serve: it exits";
  EXPECT_EQ(host.veth_count(), 0);
  EXPECT_FALSE(host.link_exists("wba0"));
  EXPECT_EQ(host.lease_count("anet"), 0u);
  EXPECT_EQ(host.endpoint_count("anet"), 0u);
  EXPECT_FALSE(has(host.nft(), "table inet weir")) << host.nft();
  EXPECT_THAT(agent_log(host), Not(HasSubstr("failed")));
}

// The front ends link no C library and print their own errors: as plugin_main would.
TEST(BridgeAgent, AFrontEndWithoutItsLocalBinarySaysSo) {
  // weir-front-libc: the same front end on the C library, as other architectures build it.
  for (const auto& [plugin, built] : std::vector<std::pair<std::string, std::string>>{
           {"weir-bridge", "weir-bridge"}, {"weir-ipam", "weir-ipam"}, {"weir-bridge", "weir-front-libc"}}) {
    TempDir own;
    const std::string copy = own.path() + "/" + plugin;
    std::filesystem::copy_file(bin(built), copy);
    auto r = run_plugin(copy, {{"CNI_COMMAND", "CHECK"}}, R"({"cniVersion":"0.4.0","name":"n"})");
    EXPECT_EQ(r.exit_code, 1) << plugin;
    EXPECT_EQ(r.json(),
              json({{"cniVersion", "0.4.0"},
                    {"code", 5},
                    {"msg", plugin + ": run \"" + copy + "-local\": No such file or directory"}}))
        << r.out;
  }
}

// One data dir spelled two ways ("<dir>" and "<dir>/."): one agent, whose own store and DNS
// serve both. Taken for another folder, the agent asked itself for the DNS sync over its own
// socket while busy with the call, and the ADD failed after the sync's 5 s.
TEST(BridgeAgent, ADataDirSpelledAnotherWayIsTheAgentsOwn) {
  WEIR_REQUIRE_ROOT();
  Host host;
  json plain = bridge_conf(host, "pnet", "wbp0", {"10.51.0.0/24"});
  json named = bridge_conf(host, "dnet", "wbd0", {"10.52.0.0/24"});
  named["isGateway"] = true;
  named["embeddedDNS"] = true;
  named["ipam"]["dataDir"] = host.data_dir() + "/.";
  Container a("ag-sp1");
  Container b("ag-sp2");
  ASSERT_EQ(host.add(a, plain).exit_code, 0);
  ASSERT_TRUE(agent_listening(host));
  auto add = host.plugin("ADD", b.path(), b.id, named, {{"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web"}});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_THAT(agent_log(host), HasSubstr("serving weir-bridge calls"));
  EXPECT_EQ(dns_fixture::dig(b.ns.name(), "10.52.0.1", "web").records,
            std::vector<std::string>{b.addr()});
  EXPECT_EQ(host.plugin("DEL", b.path(), b.id, named).exit_code, 0);
  EXPECT_EQ(host.del(a, plain).exit_code, 0);
  EXPECT_TRUE(dns_fixture::agent_gone(host.data_dir(), 3s));
  EXPECT_EQ(host.veth_count(), 0);
}

// The agent makes links in its own netns: a caller in another one (same data dir) must run its
// call itself, or its veth would land in the agent's host.
TEST(BridgeAgent, ACallerInAnotherNetnsRunsItself) {
  WEIR_REQUIRE_ROOT();
  Host host;
  Host other;
  json here = bridge_conf(host, "hnet", "wbh0", {"10.46.0.0/24"});
  json there = bridge_conf(host, "onet", "wbo0", {"10.47.0.0/24"});  // host's data dir
  there["isGateway"] = true;
  Container a("ag-h");
  Container b("ag-o");
  Container c("ag-o2");
  ASSERT_EQ(host.add(a, here).exit_code, 0);
  ASSERT_TRUE(agent_listening(host));

  for (Container* x : {&b, &c}) {
    auto r = other.add(*x, there);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  EXPECT_THAT(agent_log(host), HasSubstr("from other namespaces run there"));
  EXPECT_THAT(agent_log(host), Not(HasSubstr("serving weir-bridge calls")));
  EXPECT_TRUE(other.link_exists("wbo0"));
  EXPECT_FALSE(host.link_exists("wbo0"));
  EXPECT_EQ(other.veth_count(), 2);
  EXPECT_EQ(host.veth_count(), 1);
  EXPECT_TRUE(b.ping("10.47.0.1"));
  EXPECT_TRUE(b.ping(c.addr()));

  for (Container* x : {&b, &c}) {
    auto r = other.del(*x, there);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  EXPECT_EQ(other.veth_count(), 0);
  EXPECT_FALSE(other.link_exists("wbo0"));
  EXPECT_EQ(host.del(a, here).exit_code, 0);
  EXPECT_TRUE(dns_fixture::agent_gone(host.data_dir(), 3s));
  EXPECT_EQ(host.veth_count(), 0);
  EXPECT_EQ(dns_fixture::agent_processes(host.data_dir()).size(), 0u) << "none started in other";
}

// An agent that dies leaves nothing half done for the caller: the calls run in
// weir-bridge-local until the next successful ADD starts a new agent.
TEST(BridgeAgent, AKilledAgentIsReplaced) {
  WEIR_REQUIRE_ROOT();
  Host host;
  json conf = bridge_conf(host, "knet", "wbk0", {"10.48.0.0/24"});
  Container a("ag-k1");
  Container b("ag-k2");
  Container c("ag-k3");
  ASSERT_EQ(host.add(a, conf).exit_code, 0);
  ASSERT_TRUE(agent_listening(host));
  ASSERT_EQ(host.add(b, conf).exit_code, 0);
  const auto pid = agent::running_agent(host.data_dir());
  ASSERT_TRUE(pid);
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  ASSERT_TRUE(dns_fixture::agent_gone(host.data_dir(), 3s));

  auto del_b = host.del(b, conf);  // its socket is still there: nobody answers
  EXPECT_EQ(del_b.exit_code, 0) << del_b.out << del_b.err;
  EXPECT_FALSE(agent::running_agent(host.data_dir())) << "a DEL starts no agent";
  EXPECT_EQ(host.lease_count("knet"), 1u) << "b's address is free again";
  EXPECT_EQ(host.endpoint_count("knet"), 1u);
  auto add_c = host.add(c, conf);
  ASSERT_EQ(add_c.exit_code, 0) << add_c.out << add_c.err;
  ASSERT_TRUE(agent_listening(host));
  EXPECT_NE(agent::running_agent(host.data_dir()), pid);
  EXPECT_TRUE(c.ping(a.addr()));

  for (Container* x : {&a, &c}) EXPECT_EQ(host.del(*x, conf).exit_code, 0);
  EXPECT_TRUE(dns_fixture::agent_gone(host.data_dir(), 3s));
  EXPECT_EQ(host.veth_count(), 0);
  EXPECT_EQ(host.lease_count("knet"), 0u);
}

// DEL leaves the veth's delete to the background (the agent's reaper thread), so the old pair may
// still hold the container's interface name when the next ADD comes into the same netns (a
// disconnect and a connect). Made certain here: the first attachment's record and lease are
// dropped behind weir's back, which leaves its veth exactly as a pending delete does.
TEST(BridgeAgent, AnOldPairHoldingTheNameInTheContainerIsReplaced) {
  WEIR_REQUIRE_ROOT();
  Host host;
  json conf = bridge_conf(host, "rnet", "wbr0", {"10.49.0.0/24"});
  conf["isGateway"] = true;
  Container c("ag-re");
  auto first = host.plugin("ADD", c.path(), "first", conf);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  ASSERT_TRUE(agent_listening(host)) << "the second ADD is the agent's";
  host.forget("rnet", "first");
  auto second = host.plugin("ADD", c.path(), "second", conf);
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_THAT(agent_log(host), HasSubstr("serving weir-bridge calls"));
  EXPECT_EQ(host.veth_count(), 1) << "the old pair is gone";
  EXPECT_TRUE(c.ping("10.49.0.1"));
  ASSERT_EQ(host.plugin("DEL", c.path(), "second", conf).exit_code, 0);
  EXPECT_EQ(host.veth_count(), 0);
  EXPECT_EQ(host.lease_count("rnet"), 0u);
}

// The container's own link by that name is not ours: ADD fails and leaves it.
TEST(BridgeAgent, AContainersOwnLinkByTheNameIsLeftAlone) {
  WEIR_REQUIRE_ROOT();
  Host host;
  json conf = bridge_conf(host, "onet2", "wbq0", {"10.50.0.0/24"});
  Container c("ag-own");
  Container warm("ag-warm");  // its ADD starts the agent, which then runs the one under test
  ASSERT_EQ(host.add(warm, conf).exit_code, 0);
  ASSERT_TRUE(agent_listening(host));
  test::sh("ip -n " + c.ns.name() + " link add eth0 type veth peer name eth9");
  auto add = host.add(c, conf);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  EXPECT_THAT(agent_log(host), HasSubstr("serving weir-bridge calls"));
  EXPECT_THAT(add.out, HasSubstr("already exists"));
  EXPECT_THAT(c.ip("link show eth0"), HasSubstr("eth0@eth9"));
  ASSERT_EQ(host.del(warm, conf).exit_code, 0);
  EXPECT_EQ(host.veth_count(), 0);
  EXPECT_EQ(host.lease_count("onet2"), 0u);
}

// Two data dirs whose networks share one bridge: a veth of the other store is never taken for a
// leftover of ours, even with no record of it here. Host veths carry their store's mark.
TEST(BridgeAgent, AnotherStoresVethOnASharedBridgeIsLeftAlone) {
  WEIR_REQUIRE_ROOT();
  Host host;
  TempDir other("weir-br2");
  json mine = bridge_conf(host, "snet1", "wbsh", {"10.53.0.0/24"});
  mine["isGateway"] = true;
  json theirs = bridge_conf(host, "snet2", "wbsh", {"10.54.0.0/24"});
  theirs["ipam"]["dataDir"] = other.path();
  Container c("ag-sh");
  auto first = host.add(c, mine);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  const std::string veth = first.json()["interfaces"][1]["name"];
  EXPECT_THAT(host.ip("-d link show " + veth), HasSubstr("alias weir-port:"));

  // The same container and ifname on the other store's network: its eth0 is taken by a pair
  // that store has no record of.
  auto clash = host.add(c, theirs);
  EXPECT_EQ(clash.exit_code, 1) << clash.out << clash.err;
  EXPECT_THAT(clash.out, HasSubstr("already exists"));
  EXPECT_TRUE(host.link_exists(veth)) << "the first store's veth is untouched";
  EXPECT_TRUE(c.ping("10.53.0.1"));
  EXPECT_EQ(host.plugin("DEL", c.path(), c.id, theirs).exit_code, 0);
  EXPECT_TRUE(host.link_exists(veth)) << "nor does the other store's DEL take it";
  EXPECT_EQ(host.del(c, mine).exit_code, 0);
  EXPECT_EQ(host.veth_count(), 0);
}

}  // namespace
}  // namespace weir::test::bridge
