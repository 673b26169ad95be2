#include <gtest/gtest.h>

#include "lib/cni/config.hpp"
#include "lib/cni/version.hpp"

namespace weir::cni {
namespace {

TEST(NetConf, ParsesKnownKeysAndKeepsTheRest) {
  auto c = parse_netconf(R"({"cniVersion":"1.0.0","name":"net1","type":"weir-none",
    "capabilities":{"portMappings":true},"ipam":{"type":"weir-ipam","subnet":"10.0.0.0/24"},
    "dns":{"nameservers":["1.1.1.1"]},"runtimeConfig":{"portMappings":[]},"args":{"cni":{}},
    "custom":{"deep":[1,2]}})");
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->cni_version, "1.0.0");
  EXPECT_EQ(c->name, "net1");
  EXPECT_EQ(c->type, "weir-none");
  EXPECT_TRUE(c->capabilities.at("portMappings"));
  EXPECT_EQ(c->ipam_type(), "weir-ipam");
  EXPECT_EQ(c->dns.nameservers[0], "1.1.1.1");
  EXPECT_TRUE(c->runtime_config.is_object());
  EXPECT_EQ(c->raw["custom"]["deep"][1], 2);
  EXPECT_FALSE(c->prev_result);
}

TEST(NetConf, MissingVersionMeans010) {
  auto c = parse_netconf(R"({"name":"n","type":"t"})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->cni_version, "0.1.0");
}

struct Bad {
  const char* json;
  Code code;
  const char* needle;
};

class NetConfErrors : public ::testing::TestWithParam<Bad> {};

TEST_P(NetConfErrors, HaveTheSpecCode) {
  auto c = parse_netconf(GetParam().json);
  ASSERT_FALSE(c) << GetParam().json;
  EXPECT_EQ(c.error().code, GetParam().code) << c.error().msg;
  EXPECT_NE(c.error().msg.find(GetParam().needle), std::string::npos) << c.error().msg;
}

const std::string kDeep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";

INSTANTIATE_TEST_SUITE_P(
    All, NetConfErrors,
    ::testing::Values(
        Bad{R"({"cniVersion":"1.0.0",)", Code::kDecodeFailure, "cannot decode"},
        Bad{"", Code::kDecodeFailure, "cannot decode"},
        Bad{"[1]", Code::kDecodeFailure, "object"},
        Bad{R"({"cniVersion":"9.9.9","name":"n","type":"t"})", Code::kIncompatibleVersion, "9.9.9"},
        Bad{R"({"cniVersion":1,"name":"n"})", Code::kInvalidConfig, "cniVersion"},
        Bad{R"({"cniVersion":"1.0.0","type":"t"})", Code::kInvalidConfig, "name"},
        Bad{R"({"cniVersion":"1.0.0","name":"bad name"})", Code::kInvalidConfig, "bad name"},
        Bad{R"({"cniVersion":"1.0.0","name":"n","ipam":[]})", Code::kInvalidConfig, "ipam"},
        Bad{R"({"cniVersion":"1.0.0","name":"n","capabilities":{"x":1}})", Code::kInvalidConfig, "capabilities.x"},
        Bad{R"({"cniVersion":"1.0.0","name":"n","dns":{"nameservers":"x"}})", Code::kInvalidConfig, "dns.nameservers"},
        Bad{R"({"cniVersion":"1.0.0","name":"n","prevResult":{"ips":[{"address":"x"}]}})", Code::kInvalidConfig, "prevResult"},
        // Issue 13: invalid UTF-8 is undecodable input; a number no double holds is its field's
        // error, named by its path; nesting is bounded.
        Bad{"{\"cniVersion\":\"1.0.0\",\"name\":\"n\xff\"}", Code::kDecodeFailure, "UTF-8"},
        Bad{"{\"name\":\"\xc0\x80\"}", Code::kDecodeFailure, "\\xc0"},
        Bad{R"({"cniVersion":"1.0.0","name":"n","mtu":1e400})", Code::kInvalidConfig, "\"mtu\" is out of range: 1e400"},
        Bad{R"({"name":"n","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"},{"x":-1E999}]]}})", Code::kInvalidConfig,
            "\"ipam.ranges[0][1].x\" is out of range"},
        Bad{R"({"name":"n","a":[1,2,1e309]})", Code::kInvalidConfig, "\"a[2]\""},
        Bad{kDeep.c_str(), Code::kDecodeFailure, "nested deeper than 64 levels at \"a[0][0]"}));

TEST(NetConf, ReadsPrevResultOfAnyVersion) {
  auto c = parse_netconf(R"({"cniVersion":"0.2.0","name":"n","type":"t",
    "prevResult":{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24","gateway":"10.0.0.1"}}})");
  ASSERT_TRUE(c) << c.error().msg;
  ASSERT_TRUE(c->prev_result);
  EXPECT_EQ(c->prev_result->ips.at(0).address.str(), "10.0.0.2/24");
}

TEST(ValidAttachments, ReadsEitherKey) {
  for (const char* key : {"cni.dev/valid-attachments", "cni.dev/attachments"}) {
    nlohmann::json j = {{"cniVersion", "1.1.0"}, {"name", "n"},
                        {key, {{{"containerID", "c1"}, {"ifname", "eth0"}}}}};
    auto c = parse_netconf(j.dump());
    ASSERT_TRUE(c);
    auto a = parse_valid_attachments(*c);
    ASSERT_TRUE(a) << key;
    ASSERT_EQ(a->size(), 1u);
    EXPECT_EQ((*a)[0], (Attachment{"c1", "eth0"}));
  }
  auto none = parse_valid_attachments(*parse_netconf(R"({"cniVersion":"1.1.0","name":"n"})"));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Code::kInvalidConfig);
}

TEST(ConfList, PicksHighestSupportedFromCniVersions) {
  auto l = parse_conflist(R"({"cniVersions":["0.4.0","1.0.0","2.0.0"],"name":"n",
    "plugins":[{"type":"a"},{"type":"b","x":1}]})");
  ASSERT_TRUE(l) << l.error().msg;
  EXPECT_EQ(l->cni_version, "1.0.0");
  ASSERT_EQ(l->plugins.size(), 2u);
  EXPECT_EQ(l->plugins[1]["x"], 1);
}

TEST(ConfList, NoSupportedVersionIsCode1) {
  auto l = parse_conflist(R"({"cniVersions":["2.0.0"],"name":"n","plugins":[{"type":"a"}]})");
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code, Code::kIncompatibleVersion);
  EXPECT_NE(l.error().msg.find("2.0.0"), std::string::npos);
  EXPECT_NE(l.error().msg.find("1.1.0"), std::string::npos);
}

TEST(ConfList, SingleConfigBecomesListOfOne) {
  auto l = parse_conflist(R"({"cniVersion":"0.3.1","name":"n","type":"weir-none","k":true})");
  ASSERT_TRUE(l);
  ASSERT_EQ(l->plugins.size(), 1u);
  EXPECT_EQ(l->plugins[0]["type"], "weir-none");
  EXPECT_TRUE(l->plugins[0]["k"].get<bool>());
  EXPECT_FALSE(l->plugins[0].contains("name"));
}

TEST(ConfList, FlagsAndErrors) {
  auto l = parse_conflist(R"({"cniVersion":"1.1.0","name":"n","disableCheck":true,"disableGC":true,"plugins":[{"type":"a"}]})");
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->disable_check);
  EXPECT_TRUE(l->disable_gc);
  EXPECT_EQ(parse_conflist(R"({"cniVersion":"1.1.0","name":"n","plugins":[{}]})").error().code,
            Code::kInvalidConfig);
  EXPECT_EQ(parse_conflist(R"({"cniVersion":"1.1.0","name":"n","plugins":[]})").error().code,
            Code::kInvalidConfig);
  EXPECT_EQ(parse_conflist(R"({"cniVersion":"1.1.0","name":"n","disableCheck":"yes","plugins":[{"type":"a"}]})").error().code,
            Code::kInvalidConfig);
}

TEST(Version, ComparesAndGates) {
  EXPECT_TRUE(at_least("1.1.0", "0.4.0"));
  EXPECT_FALSE(at_least("0.3.1", "0.4.0"));
  EXPECT_TRUE(at_least("0.10.0", "0.4.0"));
  EXPECT_FALSE(Version::parse("1.0"));
  EXPECT_FALSE(Version::parse("1.0.0-rc1"));
  EXPECT_EQ(pick_version({"0.3.1", "0.4.0"}).value(), "0.4.0");
}

}  // namespace
}  // namespace weir::cni
