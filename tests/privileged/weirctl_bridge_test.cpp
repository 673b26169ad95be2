// weirctl driving the real weir-bridge (and the weir-agent it starts) in a private host netns:
// cached capabilities for CHECK, `run` with the network's DNS, `status` and `inspect` naming
// the agent and the containers, and `forget` for a network whose config is gone.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "agent/client/control.hpp"
#include "tests/support/bridge_fixture.hpp"
#include "tests/support/dns_fixture.hpp"

namespace weir::test {
namespace {

namespace fs = std::filesystem;
using bridge::Container;
using bridge::Host;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class WeirctlBridge : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    host_.emplace();
    host_->exec("ip link set lo up");
    fs::create_directories(netd());
  }
  void TearDown() override {
    if (!host_) return;
    if (HasFailure()) std::cerr << "agent.log:\n" << dns_fixture::agent_log(dir());
    dns_fixture::expect_no_agent_left(dir(), !HasFailure());
  }
  const std::string& dir() const { return host_->data_dir(); }
  std::string netd() const { return dir() + "/net.d"; }

  // A bridge network with a gateway, published ports and (by default) the embedded DNS, its
  // config written to net.d.
  json make_net(const std::string& name, const std::string& br, const std::string& subnet,
                bool dns = true) {
    json c = bridge::bridge_conf(*host_, name, br, {subnet});
    c["isGateway"] = true;
    c["ipMasq"] = true;
    c["embeddedDNS"] = dns;
    c["capabilities"] = {{"portMappings", true}};
    std::ofstream(netd() + "/" + name + ".conf") << c.dump();
    return c;
  }
  // weirctl in the host netns.
  test::Run ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--net=" + host_->path(), bin("weirctl"), "--cache-dir", dir() + "/cache"});
    return run_cmd(bridge::kNsenter, args, {{"NETCONFPATH", netd()}, {"CNI_PATH", WEIR_BIN_DIR}});
  }

  std::optional<Host> host_;
};

const std::string kPort = R"(portMappings=[{"hostPort":18080,"containerPort":80,"protocol":"tcp"}])";

TEST_F(WeirctlBridge, CheckAndDelUseTheCachedCapabilities) {
  make_net("capnet", "wctlcap", "10.71.0.0/24", false);
  Container c("cap000000001");
  auto add = ctl({"add", "capnet", c.path(), "--container-id", c.id, "--cap", kPort});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_THAT(host_->nft(), HasSubstr("18080"));

  // Without --cap: the cached portMappings, so what CHECK expects is what ADD made.
  auto check = ctl({"check", "capnet", c.path(), "--container-id", c.id});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  // An explicit --cap still wins: another port is not what ADD published.
  auto other = ctl({"check", "capnet", c.path(), "--container-id", c.id, "--cap",
                    R"(portMappings=[{"hostPort":18081,"containerPort":80,"protocol":"tcp"}])"});
  EXPECT_NE(other.exit_code, 0) << other.out;

  auto del = ctl({"del", "capnet", c.path(), "--container-id", c.id});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_THAT(host_->nft(), Not(HasSubstr("18080")));
}

TEST_F(WeirctlBridge, RunGivesTheCommandTheNetworksResolver) {
  make_net("runnet", "wctlrun", "10.72.0.0/24");
  const std::string host_resolv = bridge::read_file("/etc/resolv.conf");
  // CMD sees it as /etc/resolv.conf; so does `ip netns exec` into the same netns meanwhile.
  auto r = ctl({"run", "runnet", "--name", "web", "--", "sh", "-c",
                "cat /etc/resolv.conf; echo ---; ip netns exec \"$(ip netns identify)\" cat "
                "/etc/resolv.conf"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto sep = r.out.find("---\n");
  ASSERT_NE(sep, std::string::npos) << r.out;
  EXPECT_THAT(r.out.substr(0, sep), HasSubstr("nameserver 10.72.0.1\n"));
  EXPECT_THAT(r.out.substr(0, sep), HasSubstr("\nsearch runnet\n"));
  EXPECT_THAT(r.out.substr(sep), HasSubstr("nameserver 10.72.0.1\n"));
  auto at = r.out.find("/var/run/netns/weir-run-");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string ns = r.out.substr(at + 15, r.out.find_first_of(" \n", at) - at - 15);
  EXPECT_FALSE(fs::exists("/etc/netns/" + ns)) << ns;
  EXPECT_FALSE(fs::exists("/var/run/netns/" + ns)) << ns;
  EXPECT_EQ(bridge::read_file("/etc/resolv.conf"), host_resolv);  // the host's is untouched
}

TEST_F(WeirctlBridge, StatusNamesTheAgent) {
  make_net("stnet", "wctlst", "10.73.0.0/24");
  auto before = ctl({"status", "stnet"});
  EXPECT_EQ(before.exit_code, 0) << before.err;
  EXPECT_THAT(before.out, HasSubstr("no agent running"));

  Container c("st0000000001");
  ASSERT_EQ(ctl({"add", "stnet", c.path(), "--container-id", c.id}).exit_code, 0);
  auto pid = agent::running_agent(dir());
  ASSERT_TRUE(pid);
  auto st = ctl({"status", "stnet"});
  EXPECT_EQ(st.exit_code, 0) << st.err;
  EXPECT_THAT(st.out, HasSubstr("weir-agent " + std::to_string(*pid)));
  EXPECT_THAT(st.out, HasSubstr("DNS on 10.73.0.1"));
  EXPECT_THAT(st.out, HasSubstr(dir() + "/agent.log"));
  auto j = ctl({"--json", "status", "stnet"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  EXPECT_EQ(j.json()["agent"]["pid"], *pid) << j.out;
  EXPECT_EQ(j.json()["agent"]["dns"][0], "10.73.0.1") << j.out;
  EXPECT_EQ(ctl({"del", "stnet", c.path(), "--container-id", c.id}).exit_code, 0);
}

TEST_F(WeirctlBridge, InspectShowsTheNetworkAndItsContainers) {
  make_net("insnet", "wctlins", "10.74.0.0/24");
  Container web("ab0000000001");
  Container db("cd0000000002");
  ASSERT_EQ(ctl({"add", "insnet", web.path(), "--container-id", web.id, "--args",
                 "K8S_POD_NAME=web", "--cap", kPort})
                .exit_code,
            0);
  ASSERT_EQ(ctl({"add", "insnet", db.path(), "--container-id", db.id}).exit_code, 0);

  auto r = ctl({"--json", "inspect", "insnet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = r.json();
  EXPECT_EQ(j["name"], "insnet") << r.out;
  EXPECT_EQ(j["plugins"], json::array({"weir-bridge"}));
  EXPECT_EQ(j["subnets"][0]["subnet"], "10.74.0.0/24");
  EXPECT_EQ(j["subnets"][0]["gateway"], "10.74.0.1");
  EXPECT_EQ(j["options"]["bridge"], "wctlins");
  EXPECT_EQ(j["options"]["ipMasq"], true);
  EXPECT_EQ(j["dns"]["enabled"], true);
  EXPECT_EQ(j["dns"]["listen"], json::array({"10.74.0.1"}));
  EXPECT_EQ(j["agent"]["pid"], *agent::running_agent(dir()));
  ASSERT_EQ(j["containers"].size(), 2u) << r.out;
  json w;
  for (const auto& c : j["containers"]) {
    if (c["id"] == web.id) w = c;
  }
  ASSERT_TRUE(w.is_object()) << r.out;
  EXPECT_EQ(w["name"], "web");
  EXPECT_EQ(w["ips"][0], web.addr() + "/24");
  EXPECT_THAT(web.ip("link show eth0"), HasSubstr(w["mac"].get<std::string>()));
  EXPECT_TRUE(host_->link_exists(w["hostVeth"]));
  EXPECT_EQ(w["ports"][0]["hostPort"], 18080);
  EXPECT_EQ(w["netns"], web.path());

  auto text = ctl({"inspect", "insnet"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("network \"insnet\""));
  EXPECT_THAT(text.out, HasSubstr("10.74.0.0/24"));
  EXPECT_THAT(text.out, HasSubstr("web"));
  EXPECT_THAT(text.out, HasSubstr(web.addr()));
  EXPECT_THAT(text.out, HasSubstr("18080->80/tcp"));

  auto none = ctl({"inspect", "nosuch"});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_THAT(none.err, HasSubstr("no network \"nosuch\""));

  EXPECT_EQ(ctl({"del", "insnet", web.path(), "--container-id", web.id}).exit_code, 0);
  EXPECT_EQ(ctl({"del", "insnet", db.path(), "--container-id", db.id}).exit_code, 0);
}

TEST_F(WeirctlBridge, ForgetANetworkWhoseConfigIsGone) {
  make_net("fgnet", "wctlfg", "10.75.0.0/24");
  std::optional<Container> live;
  live.emplace("fg0000000001");
  {
    Container gone("fg0000000002");
    ASSERT_EQ(ctl({"add", "fgnet", gone.path(), "--container-id", gone.id}).exit_code, 0);
  }
  ASSERT_EQ(ctl({"add", "fgnet", live->path(), "--container-id", live->id}).exit_code, 0);

  // The config is still there: a runtime may still use the network.
  auto defined = ctl({"forget", "fgnet", "--data-dir", dir()});
  EXPECT_NE(defined.exit_code, 0);
  EXPECT_THAT(defined.err, HasSubstr("config"));

  fs::remove(netd() + "/fgnet.conf");  // as `podman network rm` / `prune` does
  // inspect still shows it, from the store.
  auto stored = ctl({"--json", "inspect", "fgnet", "--data-dir", dir()});
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  EXPECT_EQ(stored.json()["config"], false);
  EXPECT_EQ(stored.json()["containers"].size(), 2u) << stored.out;
  EXPECT_EQ(stored.json()["options"]["bridge"], "wctlfg");
  EXPECT_EQ(stored.json()["subnets"][0]["subnet"], "10.75.0.0/24");
  auto busy = ctl({"forget", "fgnet", "--data-dir", dir()});
  EXPECT_NE(busy.exit_code, 0);
  EXPECT_THAT(busy.err, HasSubstr("fg0000000001"));  // the attachment still alive
  EXPECT_EQ(host_->lease_count("fgnet"), 2u);

  live.reset();  // its netns is gone now
  auto ok = ctl({"forget", "fgnet", "--data-dir", dir()});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("2 lease(s), 2 endpoint record(s), its subnets"));
  EXPECT_THAT(ok.out, HasSubstr("bridge wctlfg"));
  EXPECT_EQ(host_->lease_count("fgnet"), 0u);
  EXPECT_EQ(host_->endpoint_count("fgnet"), 0u);
  EXPECT_FALSE(host_->link_exists("wctlfg"));
  EXPECT_THAT(host_->nft(), Not(HasSubstr("weir:fgnet")));
  auto ls = ctl({"ipam", "ls", "fgnet", "--data-dir", dir()});
  EXPECT_NE(ls.exit_code, 0) << ls.out;

  auto again = ctl({"forget", "fgnet", "--data-dir", dir()});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("no network \"fgnet\""));
}

TEST_F(WeirctlBridge, ForgetWithForceTakesLiveAttachments) {
  make_net("ffnet", "wctlff", "10.76.0.0/24");
  Container c("ff0000000001");
  ASSERT_EQ(ctl({"add", "ffnet", c.path(), "--container-id", c.id}).exit_code, 0);
  fs::remove(netd() + "/ffnet.conf");
  auto r = ctl({"forget", "ffnet", "--force", "--data-dir", dir()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(host_->lease_count("ffnet"), 0u);
  EXPECT_EQ(host_->endpoint_count("ffnet"), 0u);
  EXPECT_EQ(host_->veth_count(), 0);  // the live container's veth went with it
  EXPECT_FALSE(host_->link_exists("wctlff"));
}

}  // namespace
}  // namespace weir::test
