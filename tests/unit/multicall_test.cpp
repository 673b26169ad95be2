// The weir executable (multicall/main.cpp): each program by its name, the same program through
// `weir <name>`, and usage with a non-zero exit for a name it does not have.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/process.hpp"

namespace weir::test {
namespace {

using ::testing::HasSubstr;

const char* const kPlugins[] = {"weir-bridge-local", "weir-host", "weir-ipam-local", "weir-macvlan",
                                "weir-none"};

ino_t inode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST(Multicall, EveryNameIsTheOneExecutable) {
  const ino_t weir = inode(bin("weir"));
  ASSERT_NE(weir, 0u);
  for (const char* name : {"weir-agent", "weir-bridge-local", "weir-host", "weir-ipam-local",
                           "weir-macvlan", "weir-none", "weirctl"}) {
    EXPECT_EQ(inode(bin(name)), weir) << name;
  }
}

// Each plugin answers VERSION as a CNI plugin, run by its name as a runtime runs it and as
// `weir <name>`.
TEST(Multicall, EachPluginRunsByItsNameAndThroughWeir) {
  for (const char* name : kPlugins) {
    for (const bool through_weir : {false, true}) {
      const std::string how = through_weir ? "weir " + std::string(name) : name;
      auto r = through_weir ? run_cmd(bin("weir"), {name}, {{"CNI_COMMAND", "VERSION"}},
                                      R"({"cniVersion":"1.0.0"})")
                            : run_plugin(bin(name), {{"CNI_COMMAND", "VERSION"}},
                                         R"({"cniVersion":"1.0.0"})");
      EXPECT_EQ(r.exit_code, 0) << how << ": " << r.out << r.err;
      EXPECT_EQ(r.json()["cniVersion"], "1.1.0") << how << ": " << r.out;
    }
  }
}

TEST(Multicall, WeirctlAndWeirAgentTakeTheirOptions) {
  auto ctl = run_cmd(bin("weirctl"), {"--help"});
  EXPECT_EQ(ctl.exit_code, 0);
  EXPECT_THAT(ctl.out, HasSubstr("weirctl: run CNI networks by hand"));
  auto agent = run_cmd(bin("weir"), {"weir-agent", "--help"});
  EXPECT_EQ(agent.exit_code, 0);
  EXPECT_THAT(agent.out, HasSubstr("weir-agent: the embedded DNS"));
}

TEST(Multicall, AnUnknownNameGetsUsage) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{}, {"weir-bridge"}, {"no-such-program", "ADD"}}) {
    auto r = run_cmd(bin("weir"), args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("usage: weir PROGRAM"));
    EXPECT_THAT(r.err, HasSubstr("weir-ipam-local"));
    EXPECT_EQ(r.out, "");
  }
  auto help = run_cmd(bin("weir"), {"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("usage: weir PROGRAM"));
}

}  // namespace
}  // namespace weir::test
