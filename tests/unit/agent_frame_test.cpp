// agent/proto/frame: the call's version in its request word, and the reply's "run" — what a
// front end makes of a reply cut short before or after the agent began the call.
#include <gtest/gtest.h>

#include <string>

#include "agent/proto/frame.hpp"

namespace weir::agent::proto {
namespace {

struct StringOut {
  std::string s;
  bool append(Bytes b) {
    s.append(b.data, b.size);
    return true;
  }
};

Bytes bytes(const std::string& s) {
  return {s.data(), s.size()};
}

std::string call_of(const Plugin& plugin, const std::string& config) {
  StringOut out;
  auto getenv = [](const char* name) -> const char* {
    return std::string(name) == "CNI_COMMAND" ? "ADD" : nullptr;
  };
  EXPECT_TRUE(encode_call(out, plugin, bytes("1:2,3:4"), getenv, bytes(config)));
  return out.s;
}

TEST(AgentFrameTest, ACallCarriesTheVersionAndDecodesBack) {
  const std::string call = call_of(kBridge, "{}");
  EXPECT_EQ(call.substr(0, call.find(' ')), "bridge" + std::to_string(kVersion));
  CallHead head;
  ASSERT_EQ(decode_head(bytes(call), head), Head::kCall);
  EXPECT_EQ(head.plugin, &kBridge);
  EXPECT_EQ(head.version, kVersion);
  EXPECT_EQ(std::string(head.namespaces.data, head.namespaces.size), "1:2,3:4");
  EXPECT_EQ(head.body_at + head.body_size, call.size());
}

TEST(AgentFrameTest, VersionOneIsStillACallAndUnknownVersionsAreNot) {
  CallHead head;
  ASSERT_EQ(decode_head(bytes("ipam1 1:2,3:4 5\n"), head), Head::kCall);
  EXPECT_EQ(head.plugin, &kIpam);
  EXPECT_EQ(head.version, 1u);
  EXPECT_EQ(decode_head(bytes("ipam" + std::to_string(kVersion + 1) + " 1:2 5\n"), head), Head::kNotACall);
  EXPECT_EQ(decode_head(bytes("ipam0 1:2 5\n"), head), Head::kNotACall);
  EXPECT_EQ(decode_head(bytes("ipam 1:2 5\n"), head), Head::kNotACall);
  EXPECT_EQ(decode_head(bytes("ipamx 1:2 5\n"), head), Head::kNotACall);
  EXPECT_EQ(decode_head(bytes("sync\n"), head), Head::kNotACall);
}

TEST(AgentFrameTest, RunIsSentToVersionTwoOnly) {
  CallHead v1{.plugin = &kIpam, .version = 1};
  CallHead v2{.plugin = &kIpam, .version = 2};
  StringOut one, two;
  EXPECT_TRUE(encode_run(one, v1));
  EXPECT_TRUE(encode_run(two, v2));
  EXPECT_EQ(one.s, "");
  EXPECT_EQ(two.s, "run\n");
}

TEST(AgentFrameTest, AReplyCutShortAfterRunIsNotRunAgain) {
  StringOut done;
  ASSERT_TRUE(encode_done(done, 1, bytes("{\"code\":7}"), bytes("why")));
  const std::string got = "run\n" + done.s;  // the reply's views point into it
  const Reply whole = decode_reply(bytes(got));
  EXPECT_EQ(whole.kind, Reply::kDone);
  EXPECT_EQ(whole.exit_code, 1);
  EXPECT_EQ(std::string(whole.out.data, whole.out.size), "{\"code\":7}");
  EXPECT_EQ(std::string(whole.err.data, whole.err.size), "why");
  EXPECT_EQ(decode_reply(bytes(done.s)).kind, Reply::kDone);  // version 1: no "run"

  // The agent died in the call, or replying: not run again.
  EXPECT_EQ(decode_reply(bytes("run\n")).kind, Reply::kCutShort);
  EXPECT_TRUE(decode_reply(bytes("run\n")).began);
  EXPECT_EQ(decode_reply(bytes("run\n" + done.s.substr(0, 7))).kind, Reply::kCutShort);
  EXPECT_EQ(decode_reply(bytes("run\ndone 0 99\n{}")).kind, Reply::kCutShort);
  // Nothing began: the caller runs it.
  EXPECT_EQ(decode_reply(bytes("")).kind, Reply::kNotRun);
  EXPECT_EQ(decode_reply(bytes("ru")).kind, Reply::kNotRun);
  EXPECT_EQ(decode_reply(bytes(kNotRun)).kind, Reply::kNotRun);
  EXPECT_EQ(decode_reply(bytes("error 5 unknown request\n")).kind, Reply::kNotRun);
  // Taken, then handed back before anything ran (the store could not be opened).
  EXPECT_EQ(decode_reply(bytes(std::string("run\n") + kNotRun)).kind, Reply::kNotRun);
}

}  // namespace
}  // namespace weir::agent::proto
