#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "lib/cni/result.hpp"
#include "lib/cni/version.hpp"

namespace weir::cni {
namespace {

using nlohmann::json;

net::Cidr cidr(const char* s) { return *net::Cidr::parse(s); }
net::IpAddr ip(const char* s) { return *net::IpAddr::parse(s); }

Result sample() {
  Result r;
  r.interfaces.push_back({.name = "eth0",
                          .mac = "aa:bb:cc:dd:ee:ff",
                          .mtu = 1500,
                          .sandbox = "/var/run/netns/x",
                          .socket_path = "/run/x.sock"});
  r.ips.push_back({.address = cidr("10.1.0.5/16"), .gateway = ip("10.1.0.1"), .interface = 0});
  r.ips.push_back({.address = cidr("10.2.0.5/24"), .interface = 0});
  r.ips.push_back({.address = cidr("fd00::5/64"), .gateway = ip("fd00::1"), .interface = 0});
  r.routes.push_back({.dst = cidr("0.0.0.0/0"), .gw = ip("10.1.0.1"), .mtu = 1400, .table = 100});
  r.routes.push_back({.dst = cidr("::/0"), .gw = ip("fd00::1")});
  r.dns.nameservers = {"10.1.0.1"};
  r.dns.search = {"example.com"};
  return r;
}

json golden(std::string_view version) {
  std::ifstream f(std::string(WEIR_SOURCE_DIR) + "/tests/unit/golden/result-" +
                  std::string(version) + ".json");
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

class ResultVersions : public ::testing::TestWithParam<std::string_view> {};

TEST_P(ResultVersions, MatchesGolden) {
  EXPECT_EQ(result_to_json(sample(), GetParam()), golden(GetParam()));
}

TEST_P(ResultVersions, GoldenReadsBackAndPrintsTheSame) {
  auto back = result_from_json(golden(GetParam()));
  ASSERT_TRUE(back) << back.error().msg;
  EXPECT_EQ(result_to_json(*back, GetParam()), golden(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(AllVersions, ResultVersions, ::testing::ValuesIn(kSupportedVersions),
                         [](const auto& info) {
                           std::string n(info.param);
                           for (auto& c : n) c = c == '.' ? '_' : c;
                           return "v" + n;
                         });

TEST(Result, RoundTripsAt11) {
  auto back = result_from_json(result_to_json(sample(), "1.1.0"));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, sample());
}

TEST(Result, EmptyFieldsAreOmitted) {
  Result r;
  r.ips.push_back({.address = cidr("10.0.0.2/24")});
  json j = result_to_json(r, "1.0.0");
  EXPECT_FALSE(j.contains("dns"));
  EXPECT_FALSE(j.contains("interfaces"));
  EXPECT_FALSE(j.contains("routes"));
  EXPECT_FALSE(j["ips"][0].contains("gateway"));
  EXPECT_FALSE(j["ips"][0].contains("interface"));
  EXPECT_FALSE(result_to_json(r, "0.2.0").contains("dns"));
  EXPECT_EQ(result_to_json(Result{}, "1.1.0"), json({{"cniVersion", "1.1.0"}}));
}

TEST(Result, LegacyKeepsFirstAddressOfEachFamily) {
  json j = result_to_json(sample(), "0.2.0");
  EXPECT_EQ(j["ip4"]["ip"], "10.1.0.5/16");
  EXPECT_FALSE(j.contains("interfaces"));
}

TEST(Result, LegacyRoutesNeedAnAddressOfTheirFamily) {
  Result r;
  r.ips.push_back({.address = cidr("10.0.0.2/24")});
  r.routes.push_back({.dst = cidr("::/0")});
  json j = result_to_json(r, "0.1.0");
  EXPECT_FALSE(j.contains("ip6"));
  EXPECT_FALSE(j["ip4"].contains("routes"));
}

TEST(Result, ReadsLegacyPrevResult) {
  auto r = result_from_json(golden("0.2.0"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->ips.size(), 2u);
  EXPECT_EQ(r->ips[1].address, cidr("fd00::5/64"));
  EXPECT_FALSE(r->ips[0].interface);
  EXPECT_EQ(r->routes.size(), 2u);
  EXPECT_EQ(r->dns.nameservers, std::vector<std::string>{"10.1.0.1"});
}

TEST(Result, BadAddressIsDecodeError) {
  auto r = result_from_json(json::parse(R"({"ips":[{"address":"10.0.0.300/24"}]})"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kDecodeFailure);
  EXPECT_NE(r.error().msg.find("10.0.0.300/24"), std::string::npos);
}

TEST(Result, BadTypesAreDecodeErrors) {
  for (const char* bad : {R"({"ips":{}})", R"({"routes":[{"dst":5}]})", R"({"ips":[{"address":"10.0.0.1/24","gateway":7}]})",
                          R"({"ip4":{"ip":"x"}})", R"([])"}) {
    auto r = result_from_json(json::parse(bad));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Code::kDecodeFailure) << bad;
  }
}

}  // namespace
}  // namespace weir::cni
