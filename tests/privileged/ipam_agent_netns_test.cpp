// weir-ipam with a weir-agent in another netns (root: it makes one).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/ipam_agent_fixture.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// IPAM reads the host's routes where it runs: an agent in another netns leaves the call to the
// caller, which gets the same answer it would have got without any agent.
TEST(IpamAgentNetns, AnAgentInAnotherNetnsLeavesTheCallToTheCaller) {
  WEIR_REQUIRE_ROOT();
  if (!std::filesystem::exists("/usr/bin/nsenter")) GTEST_SKIP() << "needs nsenter (util-linux)";
  TempDir tmp("weir-ipam-agent-ns");
  AgentReaper reaper{tmp.path()};
  TestNetns ns("ipamagent");
  const std::string config = ipam_conf(tmp.path(), "10.72.0.0/24");
  auto env = cni_env("ADD", "/var/run/netns/c1", "c1");
  auto in_ns = run_cmd("/usr/bin/nsenter", {"--net=" + ns.path(), bin("weir-ipam")},
                       std::map<std::string, std::string>(env.begin(), env.end()), config);
  ASSERT_EQ(in_ns.exit_code, 0) << in_ns.out << in_ns.err;
  ASSERT_TRUE(wait_until([&] { return agents_serving(tmp.path()) == 1; }));

  auto here = run_plugin("weir-ipam", cni_env("ADD", "/var/run/netns/c2", "c2"), config);
  EXPECT_EQ(here.exit_code, 0) << here.out << here.err;
  EXPECT_EQ(here.json()["ips"][0]["address"], "10.72.0.3/24");
  const std::string log = read_file(tmp / "agent.log");
  EXPECT_THAT(log, HasSubstr("from other namespaces run there"));
  EXPECT_THAT(log, Not(HasSubstr("serving weir-ipam calls")));
}

}  // namespace
}  // namespace weir::test
