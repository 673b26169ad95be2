// weirctl as a new user meets it: --version, a mistyped command, a network that does not exist.
// No root: the store is written by the weir-ipam plugin into a temp folder.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class WeirctlCli : public ::testing::Test {
 protected:
  test::Run ctl(std::vector<std::string> args) {
    return run_cmd("weirctl", args, {{"NETCONFPATH", tmp_.path()}});
  }
  // A network "known" with one lease in the store of tmp_, and its config.
  void make_known() {
    const json conf = {{"cniVersion", "1.0.0"},
                       {"name", "known"},
                       {"type", "weir-ipam"},
                       {"ipam",
                        {{"type", "weir-ipam"},
                         {"ranges", {{{{"subnet", "10.67.0.0/29"}}}}},
                         {"dataDir", tmp_.path()}}}};
    std::ofstream(tmp_ / "known.conf") << conf.dump();
    auto r = run_plugin("weir-ipam", cni_env("ADD", "/var/run/netns/c1", "c1"), conf.dump());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  TempDir tmp_{"weir-ctlcli"};
};

TEST_F(WeirctlCli, VersionIsTheProjectVersion) {
  auto r = ctl({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "weirctl " WEIR_VERSION "\n");
}

TEST_F(WeirctlCli, AMistypedCommandIsNamedWithASuggestion) {
  auto r = ctl({"ad", "net", "ns"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("unknown command \"ad\""));
  EXPECT_THAT(r.err, HasSubstr("did you mean \"add\"?"));
  EXPECT_THAT(r.err, HasSubstr("add, check, del"));  // the list of commands
  EXPECT_THAT(r.err, Not(HasSubstr("A subcommand is required")));

  auto sub = ctl({"ipam", "lss"});
  EXPECT_NE(sub.exit_code, 0);
  EXPECT_THAT(sub.err, HasSubstr("unknown command \"ipam lss\""));
  EXPECT_THAT(sub.err, HasSubstr("did you mean \"ls\"?"));
  EXPECT_THAT(sub.err, HasSubstr("ls, release"));

  // Nothing close: the list, no guess.
  auto far = ctl({"frobnicate"});
  EXPECT_NE(far.exit_code, 0);
  EXPECT_THAT(far.err, HasSubstr("unknown command \"frobnicate\""));
  EXPECT_THAT(far.err, Not(HasSubstr("did you mean")));

  // No command at all still says what to give.
  auto none = ctl({});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_THAT(none.err, HasSubstr("add, check, del"));
}

TEST_F(WeirctlCli, IpamLsOfAnUnknownNetworkFails) {
  make_known();
  auto r = ctl({"ipam", "ls", "NOSUCH", "--data-dir", tmp_.path()});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.err, HasSubstr("no network \"NOSUCH\""));
  auto j = ctl({"--json", "ipam", "ls", "NOSUCH", "--data-dir", tmp_.path()});
  EXPECT_NE(j.exit_code, 0);
  EXPECT_THAT(j.json().value("msg", ""), HasSubstr("NOSUCH"));

  // Known ones still list, by config or only in the store.
  auto known = ctl({"ipam", "ls", "known"});
  EXPECT_EQ(known.exit_code, 0) << known.err;
  EXPECT_THAT(known.out, HasSubstr("10.67.0.2"));
  std::filesystem::remove(tmp_ / "known.conf");
  auto stored = ctl({"ipam", "ls", "known", "--data-dir", tmp_.path()});
  EXPECT_EQ(stored.exit_code, 0) << stored.err;
  EXPECT_THAT(stored.out, HasSubstr("10.67.0.2"));
}

TEST_F(WeirctlCli, DnsLsOfAnUnknownNetworkFails) {
  make_known();
  auto r = ctl({"dns", "ls", "NOSUCH", "--data-dir", tmp_.path()});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.err, HasSubstr("no network \"NOSUCH\""));
  // A known network without DNS is not an error: it says so.
  auto known = ctl({"dns", "ls", "known", "--data-dir", tmp_.path()});
  EXPECT_EQ(known.exit_code, 0) << known.err;
  EXPECT_THAT(known.out, HasSubstr("network \"known\": no embedded DNS"));
}

}  // namespace
}  // namespace weir::test
