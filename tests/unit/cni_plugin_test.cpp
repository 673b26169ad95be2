#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "lib/cni/exec.hpp"
#include "lib/cni/plugin.hpp"

namespace weir::cni {
namespace {

using nlohmann::json;
using Vars = std::map<std::string, std::string, std::less<>>;

Vars vars_for(const std::string& command) {
  return {{"CNI_COMMAND", command}, {"CNI_CONTAINERID", "c1"}, {"CNI_NETNS", "/var/run/netns/x"},
          {"CNI_IFNAME", "eth0"},   {"CNI_PATH", "/nonexistent"}};
}

std::string conf(const std::string& version, const std::string& extra = "") {
  return R"({"cniVersion":")" + version + R"(","name":"net1","type":"fake")" + extra + "}";
}

// Fake verbs that record what they were called with.
struct Recorder {
  int adds = 0, dels = 0, checks = 0, statuses = 0, gcs = 0;
  std::vector<Attachment> gc_valid;
  Expected<void> fail_with;

  Verbs verbs() {
    return {
        .add = [this](const Call&) -> Expected<Result> {
          ++adds;
          if (!fail_with) return fail(fail_with.error());
          Result r;
          r.ips.push_back({.address = *net::Cidr::parse("10.0.0.2/24")});
          return r;
        },
        .del = [this](const Call&) -> Expected<void> { ++dels; return fail_with; },
        .check = [this](const Call&) -> Expected<void> { ++checks; return {}; },
        .status = [this](const Call&) -> Expected<void> { ++statuses; return {}; },
        .gc = [this](const Call&, const std::vector<Attachment>& v) -> Expected<void> {
          ++gcs;
          gc_valid = v;
          return {};
        },
    };
  }
};

struct Outcome {
  int code;
  json out;
  std::string raw;
};

Outcome call(Recorder& rec, Vars vars, const std::string& input) {
  MapEnv env(std::move(vars), input);
  int code = plugin_main(env, rec.verbs(), "fake");
  std::string raw = env.out_str();
  return {code, raw.empty() ? json() : json::parse(raw, nullptr, false), raw};
}

TEST(PluginMain, AddPrintsResultInCallersVersion) {
  Recorder rec;
  auto o = call(rec, vars_for("ADD"), conf("0.3.1"));
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(o.out["cniVersion"], "0.3.1");
  EXPECT_EQ(o.out["ips"][0]["version"], "4");
  EXPECT_EQ(rec.adds, 1);
}

TEST(PluginMain, VersionListsAllSevenVersions) {
  Recorder rec;
  auto o = call(rec, {{"CNI_COMMAND", "VERSION"}}, "");
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(o.out["cniVersion"], "1.1.0");
  EXPECT_EQ(o.out["supportedVersions"],
            json({"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}));
}

TEST(PluginMain, ErrorsAreSpecJsonWithVersion) {
  Recorder rec;
  rec.fail_with = fail(invalid_config("bad subnet \"x\""));
  auto o = call(rec, vars_for("ADD"), conf("1.0.0"));
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.out, json({{"cniVersion", "1.0.0"}, {"code", 7}, {"msg", "bad subnet \"x\""}}));
}

TEST(PluginMain, BadJsonIsCode6) {
  Recorder rec;
  auto o = call(rec, vars_for("ADD"), "{not json");
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.out["code"], 6);
  EXPECT_EQ(rec.adds, 0);
}

TEST(PluginMain, MissingEnvIsCode4) {
  Recorder rec;
  auto vars = vars_for("ADD");
  vars.erase("CNI_NETNS");
  auto o = call(rec, vars, conf("1.0.0"));
  EXPECT_EQ(o.out["code"], 4);
  EXPECT_NE(o.out["msg"].get<std::string>().find("CNI_NETNS"), std::string::npos);
  EXPECT_EQ(o.out["cniVersion"], "1.0.0");
}

TEST(PluginMain, MissingOrUnknownCommandIsCode4) {
  Recorder rec;
  EXPECT_EQ(call(rec, {}, conf("1.0.0")).out["code"], 4);
  EXPECT_EQ(call(rec, {{"CNI_COMMAND", "PING"}}, conf("1.0.0")).out["code"], 4);
}

TEST(PluginMain, UnsupportedVersionIsCode1NamingBoth) {
  Recorder rec;
  auto o = call(rec, vars_for("ADD"), conf("0.5.0"));
  EXPECT_EQ(o.out["code"], 1);
  auto msg = o.out["msg"].get<std::string>();
  EXPECT_NE(msg.find("0.5.0"), std::string::npos);
  EXPECT_NE(msg.find("1.1.0"), std::string::npos);
}

TEST(PluginMain, CheckNeeds040) {
  Recorder rec;
  EXPECT_EQ(call(rec, vars_for("CHECK"), conf("0.3.1")).out["code"], 1);
  EXPECT_EQ(rec.checks, 0);
  EXPECT_EQ(call(rec, vars_for("CHECK"), conf("0.4.0")).code, 0);
  EXPECT_EQ(rec.checks, 1);
}

TEST(PluginMain, StatusAndGcNeed110) {
  Recorder rec;
  EXPECT_EQ(call(rec, vars_for("STATUS"), conf("1.0.0")).out["code"], 1);
  auto gc_conf = conf("1.0.0", R"(,"cni.dev/valid-attachments":[])");
  EXPECT_EQ(call(rec, vars_for("GC"), gc_conf).out["code"], 1);
  EXPECT_EQ(rec.statuses + rec.gcs, 0);
  auto st = call(rec, vars_for("STATUS"), conf("1.1.0"));
  EXPECT_EQ(st.code, 0);
  EXPECT_EQ(st.raw, "");
  EXPECT_EQ(rec.statuses, 1);
}

TEST(PluginMain, GcGetsValidAttachments) {
  Recorder rec;
  auto o = call(rec, vars_for("GC"),
                conf("1.1.0", R"(,"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}])"));
  EXPECT_EQ(o.code, 0);
  ASSERT_EQ(rec.gc_valid.size(), 1u);
  EXPECT_EQ(rec.gc_valid[0].container_id, "a");
}

TEST(PluginMain, DelPrintsNothing) {
  Recorder rec;
  auto o = call(rec, vars_for("DEL"), conf("0.1.0"));
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(o.raw, "");
  EXPECT_EQ(rec.dels, 1);
}

TEST(PluginMain, StrayExceptionIs999) {
  Verbs v{.add = [](const Call&) -> Expected<Result> { throw std::runtime_error("boom"); }};
  MapEnv env(vars_for("ADD"), conf("1.1.0"));
  EXPECT_EQ(plugin_main(env, v, "fake"), 1);
  auto j = json::parse(env.out_str());
  EXPECT_EQ(j["code"], 999);
  EXPECT_NE(j["msg"].get<std::string>().find("boom"), std::string::npos);
}

// Delegation runs a real executable from CNI_PATH.
class Delegation : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("weir-deleg-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void script(const std::string& name, const std::string& body) {
    auto p = dir_ / name;
    std::ofstream(p) << "#!/bin/sh\n" << body;
    ::chmod(p.c_str(), 0755);
  }
  Call make_call(MapEnv& env, const std::string& input) {
    CallEnv ce{.command = Command::kAdd, .container_id = "c1", .netns = "/x", .ifname = "eth0",
               .path = {"/nonexistent", dir_.string()}};
    return Call{ce, *parse_netconf(input), input, &env};
  }
  std::filesystem::path dir_;
};

TEST_F(Delegation, PassesCommandEnvAndStdinAndReadsResult) {
  // The fake IPAM echoes what it saw: command and container id through stderr, stdin back as
  // the gateway check.
  script("ipam", R"(echo "cmd=$CNI_COMMAND id=$CNI_CONTAINERID" >&2
input=$(cat)
case "$input" in *'"subnet"'*) ;; *) exit 3;; esac
echo '{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/24","gateway":"10.9.0.1"}]}'
)");
  MapEnv env({}, "");
  auto c = make_call(env, R"({"cniVersion":"1.0.0","name":"n","ipam":{"type":"ipam","subnet":"10.9.0.0/24"}})");
  auto r = delegate_add(c, "ipam");
  ASSERT_TRUE(r) << r.error().msg;
  EXPECT_EQ(r->ips.at(0).address.str(), "10.9.0.2/24");
  EXPECT_EQ(env.err_str(), "cmd=ADD id=c1\n");
  ASSERT_TRUE(delegate(c, "ipam", Command::kDel));
  EXPECT_NE(env.err_str().find("cmd=DEL"), std::string::npos);
}

TEST_F(Delegation, PluginErrorKeepsItsCode) {
  script("ipam", R"(echo '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"retry"}'; exit 1)");
  MapEnv env({}, "");
  auto r = delegate_add(make_call(env, R"({"cniVersion":"1.0.0","name":"n"})"), "ipam");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kTryAgainLater);
  EXPECT_EQ(r.error().msg, "busy");
  EXPECT_EQ(r.error().details, "retry");
}

TEST_F(Delegation, CrashWithoutErrorIsCode104) {
  script("ipam", "kill -9 $$\n");
  MapEnv env({}, "");
  auto r = delegate_add(make_call(env, R"({"cniVersion":"1.0.0","name":"n"})"), "ipam");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kPluginFailed);
  EXPECT_NE(r.error().msg.find("signal 9"), std::string::npos);
}

TEST_F(Delegation, PluginThatIgnoresStdinDoesNotKillUs) {
  script("ipam", "exec 0<&-\necho '{\"cniVersion\":\"1.0.0\"}'\n");
  MapEnv env({}, "");
  std::string big = R"({"cniVersion":"1.0.0","name":"n","pad":")" + std::string(1 << 20, 'x') + "\"}";
  auto r = delegate_add(make_call(env, big), "ipam");
  EXPECT_TRUE(r) << r.error().msg;
}

TEST_F(Delegation, NotFoundNamesTheSearchPath) {
  MapEnv env({}, "");
  auto r = delegate_add(make_call(env, R"({"cniVersion":"1.0.0","name":"n"})"), "missing");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidConfig);
  EXPECT_NE(r.error().msg.find("/nonexistent"), std::string::npos);
  EXPECT_FALSE(find_plugin("../evil", {dir_.string()}));
}

}  // namespace
}  // namespace weir::cni
