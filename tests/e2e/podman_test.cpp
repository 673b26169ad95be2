// weir-bridge under a real runtime: podman (Debian's, CNI backend) pointed at weir's plugin
// folder and conf/bridge.conflist, inside a private "host" netns. A container gets its address
// from weir-ipam, reaches a second container, serves a published port, and podman's teardown
// leaves nothing behind. Skips cleanly where podman cannot run containers.
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/support/bridge_fixture.hpp"

namespace weir::test::bridge {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPodman = "/usr/bin/podman";
constexpr const char* kBusybox = "/bin/busybox";

class Podman : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    if (!fs::exists(kPodman)) GTEST_SKIP() << "podman is not installed";
    if (!fs::exists(kBusybox)) GTEST_SKIP() << "busybox-static is not installed";
    host_.emplace();
    // A real host has loopback up; published ports on 127.0.0.1 need it.
    host_->ip("link set lo up");
    dir_ = host_->data_dir();
    make_rootfs();
    write_config();
    auto probe = podman({"run", "--rm", "--network", "none", "--rootfs", dir_ + "/rootfs", "/bin/true"});
    if (probe.exit_code != 0) GTEST_SKIP() << "podman cannot run containers here: " << probe.err;
  }
  void TearDown() override {
    if (host_) (void)podman({"rm", "--all", "--force", "--time", "0"});
  }

  void make_rootfs() {
    const std::string r = dir_ + "/rootfs";
    for (const char* d : {"bin", "proc", "sys", "dev", "etc", "tmp", "run", "www"}) fs::create_directories(r + "/" + d);
    fs::copy_file(kBusybox, r + "/bin/busybox");
    for (const char* tool : {"sh", "httpd", "wget", "ip", "true", "sleep", "cat"}) {
      fs::create_symlink("busybox", r + "/bin/" + tool);
    }
    std::ofstream(r + "/www/index.html") << "hello from weir\n";
  }

  void write_config() {
    fs::create_directories(dir_ + "/net.d");
    std::ifstream in(fs::path(WEIR_SOURCE_DIR) / "conf/bridge.conflist");
    json list = json::parse(in);
    list["plugins"][0]["ipam"]["dataDir"] = dir_ + "/store";
    std::ofstream(dir_ + "/net.d/weir.conflist") << list.dump(2);
    std::ofstream(dir_ + "/containers.conf")
        << "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nruntime = \"runc\"\n"
        << "[network]\nnetwork_backend = \"cni\"\n"
        << "cni_plugin_dirs = [\"" << WEIR_BIN_DIR << "\", \"/usr/lib/cni\"]\n"
        << "network_config_dir = \"" << dir_ << "/net.d\"\n";
  }

  // podman in the host netns. nsenter --net, not `ip netns exec`: that remounts /sys, and
  // podman then misses the cgroup mounts.
  test::Run podman(std::vector<std::string> args) {
    std::vector<std::string> all = {"--net=" + host_->path(), kPodman,
                                    "--root", dir_ + "/storage", "--runroot", dir_ + "/runroot",
                                    "--tmpdir", dir_ + "/tmp", "--storage-driver", "vfs",
                                    "--runtime", "runc", "--cgroup-manager", "cgroupfs",
                                    "--events-backend", "file"};
    if (!args.empty() && args[0] == "run") {
      args.insert(args.begin() + 1, {"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"});
    }
    all.insert(all.end(), args.begin(), args.end());
    return run_cmd(kNsenter, all, {{"CONTAINERS_CONF", dir_ + "/containers.conf"}});
  }

  std::string inspect(const std::string& name, const std::string& format) {
    auto r = podman({"inspect", name, "--format", format});
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  std::optional<Host> host_;
  std::string dir_;
};

TEST_F(Podman, RunReachPublishTeardown) {
  const std::string rootfs = dir_ + "/rootfs";
  auto web = podman({"run", "-d", "--name", "web", "--network", "weir", "-p", "8080:80", "--rootfs", rootfs,
                     "/bin/httpd", "-f", "-p", "80", "-h", "/www"});
  ASSERT_EQ(web.exit_code, 0) << web.out << web.err;

  // An address from weir-ipam, on weir's bridge.
  const std::string ip = inspect("web", "{{.NetworkSettings.Networks.weir.IPAddress}}");
  EXPECT_TRUE(ip.starts_with("172.17.")) << ip;
  const std::string netns = inspect("web", "{{.NetworkSettings.SandboxKey}}");
  EXPECT_TRUE(host_->link_exists("weir0"));
  {
    auto db = store::SqliteStore::open(store::database_path(dir_ + "/store"));
    ASSERT_TRUE(db);
    size_t leases = 0;
    ASSERT_TRUE(db->view([&](store::Txn& t) -> Expected<void> {
      leases = t.list_leases("weir").value().size();
      return {};
    }));
    EXPECT_EQ(leases, 1u);
  }

  // A second container on the same network reaches it.
  auto client = podman({"run", "--rm", "--network", "weir", "--rootfs", rootfs, "/bin/wget", "-q", "-O", "-",
                        "http://" + ip + "/"});  // no -T: busybox-static 1.35's wget crashes with it
  EXPECT_EQ(client.exit_code, 0) << client.out << client.err;
  EXPECT_TRUE(has(client.out, "hello from weir")) << client.out << client.err;

  // The published port, from the host's localhost and from outside through a host address.
  const std::string get = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -N -w 3 ";
  EXPECT_TRUE(has(host_->exec("sh -c \"" + get + "127.0.0.1 8080\""), "hello from weir"));
  const auto& out = host_->outside();
  EXPECT_TRUE(has(sh("ip netns exec " + out.name() + " sh -c \"" + get + "192.0.2.1 8080\" 2>&1"),
                  "hello from weir"));

  // Teardown: podman's DEL leaves no veth, bridge, rule, lease, record or netns.
  auto rm = podman({"rm", "--force", "--time", "0", "web"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(host_->veth_count(), 0);
  EXPECT_FALSE(host_->link_exists("weir0"));
  EXPECT_EQ(host_->nft(), "");
  EXPECT_FALSE(fs::exists(netns)) << netns;
  auto db = store::SqliteStore::open(store::database_path(dir_ + "/store"));
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->view([&](store::Txn& t) -> Expected<void> {
    EXPECT_EQ(t.list_leases("").value().size(), 0u);
    EXPECT_EQ(t.list_endpoints("").value().size(), 0u);
    return {};
  }));
}

}  // namespace
}  // namespace weir::test::bridge
