// agent/lean: the front end's JSON reader and its choice of agent, against what the plugins
// themselves use (nlohmann::json, store_dir_of, lib/cni).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/client/call.hpp"
#include "agent/proto/json.hpp"
#include "agent/proto/route.hpp"
#include "lib/cni/config.hpp"
#include "lib/cni/error_json.hpp"
#include "lib/cni/vars.hpp"
#include "lib/cni/version.hpp"
#include "lib/store/paths.hpp"
#include "plugins/common/ipam_client.hpp"

namespace weir::agent::proto {
namespace {

// A Json points into the text: use it within the expression, or keep the text.
Json parse(const std::string& text) {
  return Json::parse({text.data(), text.size()});
}

std::string decoded(const Json& v) {
  Text t;
  return v.decode(t) ? std::string(t.data, t.size) : "<undecodable>";
}

TEST(LeanJsonTest, AcceptsAndRejectsWhatNlohmannDoes) {
  const std::vector<std::string> docs = {
      "{}", " {} ", "[]", "0", "-0", "1.5e+3", "-12.0E-1", "\"x\"", "true", "false", "null",
      R"({"a":[1,2,{"b":null}],"c":"d\n\u00e9\ud83d\ude00"})", "\t[ 1 , 2 ]\r\n",
      // invalid
      "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "-", "1e",
      "+1", "\"abc", "\"a\\x\"", "\"\\u12g4\"", std::string("\"a\x01\""), "tru", "nul", "{} {}",
      "[1 2]", "{\"a\":1}x", "'a'", "NaN", "\xEF\xBB\xBF{\"a\":1}", "\xEF\xBB{}",
      R"("\ud83d")", R"("\ude00")", R"("\ud83dx")", R"("\ud83d\u0041")", R"(["\ud83d\ude00"])"};
  for (const auto& doc : docs) {
    const bool ours = parse(doc).kind != Json::kNone;
    const bool theirs = !nlohmann::json::parse(doc, nullptr, false).is_discarded();
    EXPECT_EQ(ours, theirs) << doc;
  }
}

// Where the two part ways, on purpose (json.hpp).
TEST(LeanJsonTest, KnownDifferencesFromNlohmann) {
  for (const char* doc : {"\"\xff\"", "1e400"}) {
    EXPECT_NE(parse(doc).kind, Json::kNone) << doc;
    EXPECT_TRUE(nlohmann::json::parse(doc, nullptr, false).is_discarded()) << doc;
  }
  const std::string deep = std::string(300, '[') + std::string(300, ']');
  EXPECT_EQ(parse(deep).kind, Json::kNone);
  EXPECT_FALSE(nlohmann::json::parse(deep, nullptr, false).is_discarded());
}

TEST(LeanJsonTest, NestingIsBounded) {
  EXPECT_NE(parse(std::string(200, '[') + std::string(200, ']')).kind, Json::kNone);
  EXPECT_EQ(parse(std::string(300, '[') + std::string(300, ']')).kind, Json::kNone);
  EXPECT_EQ(parse(std::string(100000, '[')).kind, Json::kNone);
}

TEST(LeanJsonTest, FindsMembersAsNlohmannDoes) {
  const std::string text = R"({"a":1,"b":{"c":"x","c":"y"},"d\u0041":"z","e":[{"f":1}]})";
  const Json doc = parse(text);
  ASSERT_EQ(doc.kind, Json::kObject);
  EXPECT_EQ(doc.member("a").kind, Json::kNumber);
  EXPECT_EQ(decoded(doc.member("b").member("c")), "y");  // the last of duplicates
  EXPECT_EQ(decoded(doc.member("dA")), "z");             // keys compared decoded
  EXPECT_EQ(doc.member("f").kind, Json::kNone);          // not a member of the root
  EXPECT_EQ(doc.member("e").member("f").kind, Json::kNone);
  EXPECT_EQ(doc.member("zz").kind, Json::kNone);
  EXPECT_EQ(doc.member("a").member("a").kind, Json::kNone);
  EXPECT_TRUE(parse(" { } ").empty_object());
  EXPECT_FALSE(parse(R"({"a":1})").empty_object());
  EXPECT_FALSE(parse("[]").empty_object());
}

TEST(LeanJsonTest, DecodesStringsAsNlohmannDoes) {
  for (const std::string s : {R"("plain")", R"("a\"b\\c\/d\b\f\n\r\t")", R"("\u00e9\u4e2d")",
                              R"("\ud83d\ude00 and \uD834\uDD1E")", R"("")", R"("\u0000")"}) {
    EXPECT_EQ(decoded(parse(s)), nlohmann::json::parse(s).get<std::string>()) << s;
  }
  EXPECT_EQ(decoded(parse(R"("\ud83d")")), "<undecodable>");  // a lone surrogate
  EXPECT_EQ(decoded(parse(R"("\ude00")")), "<undecodable>");
  EXPECT_EQ(decoded(parse("1")), "<undecodable>");
  EXPECT_EQ(decoded(parse("\"" + std::string(Text::kCapacity + 1, 'a') + "\"")), "<undecodable>");
  EXPECT_TRUE(parse(R"("weir\u002dipam")").string_equals("weir-ipam"));
  EXPECT_FALSE(parse(R"("weir-ipam2")").string_equals("weir-ipam"));
  EXPECT_FALSE(parse(R"("weir-ipa")").string_equals("weir-ipam"));
}

std::string bridge_dir(const std::string& conf) {
  Text dir;
  return bridge_agent_dir(parse(conf), dir) ? std::string(dir.data, dir.size) : "";
}
std::string ipam_dir(const std::string& conf) {
  Text dir;
  return ipam_agent_dir(parse(conf), dir) ? std::string(dir.data, dir.size) : "";
}

// The agent weir-bridge's front end picks must serve the store the plugin opens (store_dir_of).
TEST(LeanRouteTest, BridgePicksTheStoreThePluginOpens) {
  const std::string head = R"({"cniVersion":"1.0.0","name":"n","type":"weir-bridge")";
  const std::vector<std::string> eligible = {
      head + "}",
      head + R"(,"ipam":{}})",
      head + R"(,"dataDir":"/d/own","ipam":{"type":"weir-ipam","dataDir":"/d/ipam"}})",
      head + R"(,"ipam":{"type":"weir-ipam","dataDir":"/d/ipam"}})",
      head + R"(,"ipam":{"type":"weir-ipam"}})",
      head + R"(,"dataDir":"/d/esc\u00e9"})",
  };
  for (const auto& text : eligible) {
    auto conf = cni::parse_netconf(text);
    ASSERT_TRUE(conf) << text;
    auto dir = plugins::store_dir_of(*conf);
    ASSERT_TRUE(dir) << text;
    EXPECT_EQ(bridge_dir(text), dir->empty() ? std::string(store::kDefaultDataDir) : *dir) << text;
  }
  // Another IPAM plugin (exec'd by the caller), a relative folder, a dataDir not a string, not
  // JSON.
  for (const std::string& text : std::vector<std::string>{
           head + R"(,"ipam":{"type":"host-local","dataDir":"/d"}})",
           head + R"(,"ipam":{"dataDir":"/d"}})", head + R"(,"ipam":"weir-ipam"})",
           head + R"(,"dataDir":"rel"})", head + R"(,"dataDir":7})",
           head + R"(,"ipam":{"type":"weir-ipam","dataDir":"rel"}})", std::string("[]"), head}) {
    EXPECT_EQ(bridge_dir(text), "") << text;
  }
}

TEST(LeanRouteTest, IpamPicksItsSectionsDataDir) {
  EXPECT_EQ(ipam_dir(R"({"ipam":{"type":"weir-ipam","dataDir":"/d/x"}})"), "/d/x");
  EXPECT_EQ(ipam_dir(R"({"ipam":{"type":"weir-ipam"}})"), std::string(store::kDefaultDataDir));
  EXPECT_EQ(ipam_dir(R"({"ipam":{"dataDir":5}})"), std::string(store::kDefaultDataDir));
  EXPECT_EQ(ipam_dir(R"({"ipam":{"dataDir":"rel"}})"), "");
  EXPECT_EQ(ipam_dir(R"({"ipam":[]})"), "");
  EXPECT_EQ(ipam_dir(R"({"type":"x"})"), "");
  EXPECT_EQ(ipam_dir("not json"), "");
  EXPECT_EQ(agent_dir_of(kIpamPlugin, R"({"ipam":{"dataDir":"/d/y"}})"), "/d/y");
  EXPECT_EQ(agent_dir_of(kBridgePlugin, R"({"ipam":{"type":"static"}})"), "");
}

TEST(LeanRouteTest, AgreesWithTheRestOfWeir) {
  // The same variables as lib/cni passes on.
  ASSERT_EQ(std::size(kCallVariables), std::size(cni::kCallVariables));
  for (size_t i = 0; i < std::size(kCallVariables); ++i) {
    EXPECT_EQ(std::string_view(kCallVariables[i]), cni::kCallVariables[i]);
  }
  // The socket where the agent listens.
  for (const std::string dir : {"/d", "/d/", "/var/lib/weir"}) {
    Text path;
    ASSERT_TRUE(data_file({dir.data(), dir.size()}, kSocketFile, path));
    EXPECT_EQ(std::string(path.data, path.size), paths_for(dir).socket);
  }
  // The cniVersion of an error, as plugin_main picks it: every version weir speaks.
  for (std::string_view v : cni::kSupportedVersions) {
    const std::string input = R"({"cniVersion":")" + std::string(v) + R"("})";
    EXPECT_EQ(version_for_errors(parse(input)), v);
  }
  for (const std::string input :
       {R"({"cniVersion":"0.3.1"})", R"({"cniVersion":"9.9.9"})", R"({"cniVersion":3})", "{}",
        "oops", R"({"cniVersion":"0.4.0","x":)"}) {
    EXPECT_EQ(version_for_errors(parse(input)), cni::version_for_errors(input)) << input;
  }
}

}  // namespace
}  // namespace weir::agent::proto
