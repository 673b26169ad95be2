#include <gtest/gtest.h>

#include "lib/cni/env.hpp"

namespace weir::cni {
namespace {

MapEnv env_of(std::map<std::string, std::string, std::less<>> vars) { return MapEnv(std::move(vars), ""); }

std::map<std::string, std::string, std::less<>> full() {
  return {{"CNI_COMMAND", "ADD"}, {"CNI_CONTAINERID", "abc"}, {"CNI_NETNS", "/var/run/netns/x"},
          {"CNI_IFNAME", "eth0"}, {"CNI_PATH", "/opt/cni/bin:/usr/lib/cni"}};
}

TEST(CallEnv, ReadsEverything) {
  auto vars = full();
  vars["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.0.0.5";
  auto ce = read_call_env(env_of(vars), Command::kAdd);
  ASSERT_TRUE(ce) << ce.error().msg;
  EXPECT_EQ(ce->container_id, "abc");
  EXPECT_EQ(ce->path, (std::vector<std::string>{"/opt/cni/bin", "/usr/lib/cni"}));
  EXPECT_EQ(find_arg(ce->args, "K8S_POD_NAME"), "web");
  EXPECT_EQ(find_arg(ce->args, "IP"), "10.0.0.5");
  EXPECT_FALSE(find_arg(ce->args, "nope"));
}

// Some runtimes and test suites send CNI_ARGS=none: only a plugin that reads an argument
// refuses it (the reference loopback accepts it, bridge and host-local do not).
TEST(CallEnv, ArgsThatAreNotPairsFailOnlyWhenRead) {
  auto vars = full();
  vars["CNI_ARGS"] = "none";
  auto ce = read_call_env(env_of(vars), Command::kAdd);
  ASSERT_TRUE(ce) << ce.error().msg;
  EXPECT_TRUE(ce->args.empty());
  EXPECT_EQ(ce->args_raw, "none");
  auto read = require_args(*ce);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Code::kInvalidEnv);
  EXPECT_NE(read.error().msg.find("\"none\" is not KEY=VALUE"), std::string::npos);
  vars["CNI_ARGS"] = "IgnoreUnknown=1";
  EXPECT_TRUE(require_args(*read_call_env(env_of(vars), Command::kAdd)));
}

TEST(CallEnv, MissingVariablesAreNamed) {
  auto ce = read_call_env(env_of({{"CNI_COMMAND", "ADD"}, {"CNI_IFNAME", "eth0"}}), Command::kAdd);
  ASSERT_FALSE(ce);
  EXPECT_EQ(ce.error().code, Code::kInvalidEnv);
  EXPECT_NE(ce.error().msg.find("CNI_CONTAINERID"), std::string::npos);
  EXPECT_NE(ce.error().msg.find("CNI_NETNS"), std::string::npos);
  EXPECT_NE(ce.error().msg.find("CNI_PATH"), std::string::npos);
  EXPECT_EQ(ce.error().msg.find("CNI_IFNAME"), std::string::npos);
}

TEST(CallEnv, DelNeedsNoNetns) {
  auto vars = full();
  vars.erase("CNI_NETNS");
  EXPECT_TRUE(read_call_env(env_of(vars), Command::kDel));
  EXPECT_FALSE(read_call_env(env_of(vars), Command::kCheck));
}

TEST(CallEnv, StatusAndGcNeedOnlyPath) {
  auto ce = read_call_env(env_of({{"CNI_PATH", "/x"}}), Command::kGc);
  EXPECT_TRUE(ce);
  EXPECT_TRUE(read_call_env(env_of({{"CNI_PATH", "/x"}}), Command::kStatus));
  auto none = read_call_env(env_of({}), Command::kStatus);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Code::kInvalidEnv);
}

TEST(CallEnv, EmptyContainerIdIsUnknownContainer) {
  auto vars = full();
  vars["CNI_CONTAINERID"] = "";
  auto ce = read_call_env(env_of(vars), Command::kAdd);
  ASSERT_FALSE(ce);
  EXPECT_EQ(ce.error().code, Code::kUnknownContainer);
}

TEST(CallEnv, BadContainerId) {
  for (const char* id : {"-abc", "a/b", "a b", "ab;c", ".x"}) {
    auto vars = full();
    vars["CNI_CONTAINERID"] = id;
    auto ce = read_call_env(env_of(vars), Command::kAdd);
    ASSERT_FALSE(ce) << id;
    EXPECT_EQ(ce.error().code, Code::kInvalidEnv) << id;
  }
}

TEST(CallEnv, IfnameRules) {
  for (const char* bad : {"", ".", "..", "a/b", "a:b", "a b", "a\tb", "sixteen-chars-xx", "all",
                          "default", "eth%d", "a\x01b", "a\x7f", "\xff\xfe", "\xc0\x80"}) {
    EXPECT_FALSE(validate_ifname(bad)) << bad;
    EXPECT_EQ(validate_ifname(bad).error().code, Code::kInvalidEnv);
  }
  for (const char* good : {"eth0", "a", "fifteen-chars-x", "net1.2", "lo", "All", "default0",
                           "\xc3\xa9th0"}) {
    EXPECT_TRUE(validate_ifname(good)) << good;
  }
}

TEST(CniArgs, Parses) {
  auto a = parse_cni_args("A=1;;B=x=y;C=");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->size(), 3u);
  EXPECT_EQ(find_arg(*a, "B"), "x=y");
  EXPECT_EQ(find_arg(*a, "C"), "");
  EXPECT_TRUE(parse_cni_args("")->empty());
}

TEST(CniArgs, RejectsPairsWithoutKey) {
  for (const char* bad : {"novalue", "A=1;=2"}) {
    auto a = parse_cni_args(bad);
    ASSERT_FALSE(a) << bad;
    EXPECT_EQ(a.error().code, Code::kInvalidEnv);
  }
}

TEST(Command, ParsesSpecVerbs) {
  EXPECT_EQ(parse_command("GC"), Command::kGc);
  EXPECT_FALSE(parse_command("add"));
  EXPECT_EQ(command_name(Command::kStatus), "STATUS");
}

}  // namespace
}  // namespace weir::cni
