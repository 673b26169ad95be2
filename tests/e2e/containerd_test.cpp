// weir-bridge under a second real runtime: Debian 12's containerd 1.6, driven as a new user
// would, with `ctr run --rm --cni` and weir's shipped conflists, on an image the test builds from
// busybox-static and imports without a registry. Everything runs inside a private "host" netns
// and a private mount namespace, with a containerd daemon the test starts and stops itself:
//
//  - `ctr run --cni` (cmd/ctr/commands/run, go-cni 1.1.6 with WithDefaultConf) reads its config
//    from /etc/cni/net.d (the first file, sorted) and execs plugins from /opt/cni/bin, both
//    fixed; libcni caches results under /var/lib/cni. The plugins run in ctr's own process
//    context, not the daemon's. So the daemon is started in a new mount namespace where the test's
//    folders are bind-mounted over /etc/cni/net.d, /opt (with weir's bin dir on /opt/cni/bin) and
//    /var/lib, and a tmpfs over /run (containerd's shim sockets, runc's state and ctr's FIFOs live
//    under the fixed /run/containerd); every ctr then joins that mount namespace and the host
//    netns (nsenter -t <daemon> -m -n). The machine's own folders are never touched.
//  - What ctr sends: CNI_CONTAINERID "<namespace>-<id>" ("default-web"), CNI_NETNS
//    /proc/<pid>/ns/net of the task on ADD and "" on DEL, no CNI_ARGS and no runtimeConfig
//    (no K8S_POD_NAME), so weir names the container by its id's first 12 characters (the short
//    id, plugins/common/endpoints.cpp). ADD runs before the task starts; DEL runs only in a
//    non-detached `ctr run` after the task exited, and its failure is only logged ("network
//    review"), never an exit code, so the test reads ctr's stderr for it.
//
// Skips cleanly where containerd cannot run containers.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/bridge_fixture.hpp"
#include "tests/support/dns_fixture.hpp"

extern char** environ;

namespace weir::test::bridge {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kContainerd = "/usr/bin/containerd";
constexpr const char* kCtr = "/usr/bin/ctr";
constexpr const char* kBusybox = "/bin/busybox";
constexpr const char* kImage = "weir.test/busybox:latest";
// A container that waits to be killed, bounded in case the test dies before it kills it.
const std::vector<std::string> kIdle = {"sleep", "60"};

#if defined(__x86_64__)
constexpr const char* kArch = "amd64";
#elif defined(__aarch64__)
constexpr const char* kArch = "arm64";
#else
constexpr const char* kArch = "";
#endif

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A background process of the test (containerd), stdout and stderr to a log, stopped with
// SIGTERM (then SIGKILL after 5 s) when the object goes away.
class Daemon {
 public:
  Daemon(const std::vector<std::string>& argv, const std::string& log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Daemon() { stop(); }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  bool running() {
    if (pid_ <= 0) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 250 && running(); ++i) std::this_thread::sleep_for(20ms);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
};

// The entries of a /proc folder; a process that exits meanwhile only shortens the list (a
// range-for over directory_iterator would throw instead).
std::vector<fs::path> entries(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    out.push_back(it->path());
  }
  return out;
}

bool is_pid(const fs::path& p) {
  return std::atoi(p.filename().c_str()) > 0;
}

// The processes whose command line holds `needle` as one argument (containerd's shims name the
// daemon's socket with -address).
std::vector<pid_t> processes_with_arg(const std::string& needle) {
  std::vector<pid_t> out;
  for (const auto& p : entries("/proc")) {
    if (!is_pid(p) || std::atoi(p.filename().c_str()) == ::getpid()) continue;
    const std::string all = dns_fixture::read_proc_file(p.string() + "/cmdline");
    if (all.find(std::string(1, '\0') + needle + '\0') != std::string::npos) {
      out.push_back(static_cast<pid_t>(std::atoi(p.filename().c_str())));
    }
  }
  return out;
}

// The cookie (SO_NETNS_COOKIE) of the netns a path names, 0 if it cannot be read: unlike the
// inode, never reused while the machine runs. Read from a socket a thread of our own opens in
// that netns (the thread ends there; the process stays where it was).
uint64_t netns_cookie(const fs::path& ns) {
  uint64_t cookie = 0;
  std::thread([&] {
    const int fd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    const bool entered = ::setns(fd, CLONE_NEWNET) == 0;
    ::close(fd);
    if (!entered) return;
    const int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof(cookie);
    if (sock < 0 || ::getsockopt(sock, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) cookie = 0;
    if (sock >= 0) ::close(sock);
  }).join();
  return cookie;
}

// A container's netns: its inode to find it by and its cookie to be sure it is the same one
// (inodes of freed namespaces are handed to new ones at once, such as those of tests running
// alongside).
struct Netns {
  ino_t ino = 0;
  uint64_t cookie = 0;
};

// Who still has this netns as a thread's own or holds it open ("<pid> <comm> (thread|fd)"),
// empty when nothing does: a container's netns is gone then (ctr's netns is the task's,
// /proc/<pid>/ns/net, never a bind mount).
std::string netns_holder(const Netns& ns) {
  const std::string want = "net:[" + std::to_string(ns.ino) + "]";
  std::error_code ec;
  for (const auto& p : entries("/proc")) {
    if (!is_pid(p)) continue;
    const std::string who =
        p.filename().string() + " " + trim(dns_fixture::read_proc_file(p.string() + "/comm"));
    for (const auto& t : entries(p / "task")) {
      if (fs::read_symlink(t / "ns/net", ec).string() == want &&
          netns_cookie(t / "ns/net") == ns.cookie) {
        return who + " (thread)";
      }
    }
    for (const auto& fd : entries(p / "fd")) {
      if (fs::read_symlink(fd, ec).string() == want && netns_cookie(fd) == ns.cookie) {
        return who + " (fd)";
      }
    }
  }
  return {};
}

class Containerd : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    for (const char* b : {kContainerd, kCtr}) {
      if (!fs::exists(b)) GTEST_SKIP() << b << " is not installed (Debian package containerd)";
    }
    if (!fs::exists(kBusybox)) GTEST_SKIP() << "busybox-static is not installed";
    if (*kArch == '\0') GTEST_SKIP() << "no OCI architecture name for this machine";
    // Mount points the private mount namespace covers; /etc/cni/net.d comes with podman.
    for (const char* d : {"/etc/cni/net.d", "/opt", "/var/lib", "/run"}) {
      if (!fs::is_directory(d))
        GTEST_SKIP() << d << " does not exist to mount the test's folder on";
    }
    host_.emplace();
    host_->ip("link set lo up");
    dir_ = work_.path();
    cgroup_ = "/weirt-ctr-" + std::to_string(::getpid());
    for (const char* d : {"net.d", "opt/cni/bin", "var-lib", "root", "state", "image"}) {
      fs::create_directories(dir_ + "/" + d);
    }
    start_daemon();
    if (HasFatalFailure() || IsSkipped()) return;
    build_image();
    auto imported = ctr({"image", "import", dir_ + "/image.tar"});
    ASSERT_EQ(imported.exit_code, 0) << imported.out << imported.err;
    auto probe = ctr({"run", "--rm", "--cgroup", cgroup_ + "/probe", kImage, "probe", "true"});
    if (probe.exit_code != 0) {
      GTEST_SKIP() << "containerd cannot run containers here: " << probe.out << probe.err
                   << read_file(dir_ + "/containerd.log");
    }
  }

  void TearDown() override {
    if (daemon_) {
      // Containers a failed test left: kill their tasks, so their `ctr run` runs DEL and
      // removes them, then wait for those ctr processes.
      for (const auto& id : lines(ctr({"task", "ls", "-q"}).out)) {
        (void)ctr({"task", "kill", "-s", "SIGKILL", id});
      }
      for (auto& [id, f] : running_) (void)f.get();
      running_.clear();
      for (const auto& id : lines(ctr({"container", "ls", "-q"}).out)) {
        (void)ctr({"task", "delete", "--force", id});
        (void)ctr({"container", "delete", id});
      }
      daemon_->stop();
      daemon_.reset();
      // A shim outlives its daemon while it has a task; none should, but kill any found.
      for (pid_t p : processes_with_arg(dir_ + "/containerd.sock")) {
        ADD_FAILURE() << "containerd shim " << p << " left; killed";
        ::kill(p, SIGKILL);
      }
    }
    // runc leaves the parent of the containers' cgroups (<controller>/weirt-ctr-<pid>) behind.
    if (!cgroup_.empty()) {
      for (const auto& c : entries("/sys/fs/cgroup")) ::rmdir((c.string() + cgroup_).c_str());
      ::rmdir(("/sys/fs/cgroup" + cgroup_).c_str());
    }
    if (host_) dns_fixture::expect_no_agent_left(host_->data_dir(), !HasFailure());
  }

  // containerd in the host netns and a mount namespace of its own (see the top of the file).
  // Its config is `containerd config default` less what needs a network or writes outside the
  // test's folders: the CRI plugin (pulls, a streaming server, /opt/cni), the `opt` plugin
  // (/opt/containerd), tracing, and snapshotters this test does not use.
  void start_daemon() {
    std::ofstream(dir_ + "/config.toml")
        << "version = 2\n"
        << "disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.internal.v1.opt\",\n"
        << "  \"io.containerd.tracing.processor.v1.otlp\", \"io.containerd.internal.v1.tracing\",\n"
        << "  \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.snapshotter.v1.btrfs\",\n"
        << "  \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.zfs\"]\n";
    const std::string mounts =
        "mount -t tmpfs -o mode=0755 weirt-run /run && mount --bind \"$1/net.d\" /etc/cni/net.d && "
        "mount --bind \"$1/opt\" /opt && mount --bind \"$2\" /opt/cni/bin && "
        "mount --bind \"$1/var-lib\" /var/lib && exec \"$3\" --config \"$1/config.toml\" "
        "--root \"$1/root\" --state \"$1/state\" --address \"$1/containerd.sock\"";
    // nsenter --net first (the netns path is under /run, which the tmpfs then hides), not
    // `ip netns exec`, which remounts /sys and so hides the cgroup mounts runc needs.
    daemon_.emplace(std::vector<std::string>{kNsenter, "--net=" + host_->path(), "/usr/bin/unshare",
                                             "--mount", "--propagation", "private", "/bin/sh", "-c",
                                             mounts, "sh", dir_, WEIR_BIN_DIR, kContainerd},
                    dir_ + "/containerd.log");
    ASSERT_GT(daemon_->pid(), 0) << "spawn containerd";
    // Up when ctr gets an answer: at most 10 s.
    for (int i = 0; i < 100; ++i) {
      if (!daemon_->running()) break;
      if (fs::exists(dir_ + "/containerd.sock") && ctr({"version"}).exit_code == 0) return;
      std::this_thread::sleep_for(100ms);
    }
    const std::string log = read_file(dir_ + "/containerd.log");
    daemon_.reset();
    GTEST_SKIP() << "containerd does not start here: " << log;
  }

  // An image from busybox-static without a registry: a docker-archive tar (manifest.json, the
  // config with the layer's diff id, one uncompressed layer) as `docker save` writes it.
  void build_image() {
    const std::string r = dir_ + "/rootfs";
    for (const char* d : {"bin", "proc", "sys", "dev", "etc", "tmp", "run"})
      fs::create_directories(r + "/" + d);
    fs::copy_file(kBusybox, r + "/bin/busybox");
    for (const char* tool : {"sh", "ping", "nslookup", "sleep", "ip", "true", "cat"}) {
      fs::create_symlink("busybox", r + "/bin/" + tool);
    }
    const std::string img = dir_ + "/image";
    sh("tar -C " + r + " -cf " + img + "/layer.tar .");
    const std::string diff = trim(sh("sha256sum " + img + "/layer.tar | cut -d' ' -f1"));
    ASSERT_EQ(diff.size(), 64u) << diff;
    json config = {{"architecture", kArch},
                   {"os", "linux"},
                   {"config", {{"Env", {"PATH=/bin"}}, {"Cmd", {"/bin/sh"}}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + diff}}}}};
    std::ofstream(img + "/config.json") << config.dump();
    std::ofstream(img + "/manifest.json")
        << json::array(
               {{{"Config", "config.json"}, {"RepoTags", {kImage}}, {"Layers", {"layer.tar"}}}})
               .dump();
    int st = -1;
    sh("tar -C " + img + " -cf " + dir_ + "/image.tar manifest.json config.json layer.tar", &st);
    ASSERT_EQ(st, 0);
  }

  // A shipped conflist as ctr's network: /etc/cni/net.d/10-weir.conflist as ctr sees it. The
  // one change is the store's folder (ipam.dataDir, which the bridge takes too) to the test's:
  // hermeticity; everything else is the file as shipped.
  json use_conflist(const std::string& name) {
    std::ifstream in(fs::path(WEIR_SOURCE_DIR) / "conf" / name);
    json list = json::parse(in);
    list["plugins"][0]["ipam"]["dataDir"] = host_->data_dir();
    std::ofstream(dir_ + "/net.d/10-weir.conflist") << list.dump(2);
    return list;
  }

  // ctr against the test's daemon, in its mount namespace and the host netns. The native
  // snapshotter: overlayfs fails where the temp folder is itself on overlayfs, and the image is
  // 2 MB.
  test::Run ctr(std::vector<std::string> args) const {
    std::vector<std::string> all = {"-t",        std::to_string(daemon_->pid()), "-m", "-n", kCtr,
                                    "--address", dir_ + "/containerd.sock"};
    all.insert(all.end(), args.begin(), args.end());
    return run_cmd(kNsenter, all, {{"CONTAINERD_SNAPSHOTTER", "native"}});
  }
  // `ctr run --rm --cni` as a user types it; --cgroup only to keep the containers' cgroups
  // under one parent of this test's own (the default, /<namespace>/<id>, is shared by every run
  // on the machine).
  std::vector<std::string> run_args(const std::string& id, std::vector<std::string> cmd) const {
    std::vector<std::string> a = {"run",  "--rm", "--cni", "--cgroup", cgroup_ + "/" + id,
                                  kImage, id};
    a.insert(a.end(), cmd.begin(), cmd.end());
    return a;
  }
  test::Run run(const std::string& id, std::vector<std::string> cmd) const {
    return ctr(run_args(id, std::move(cmd)));
  }
  // Starts `ctr run --rm --cni` of an idle container in the background; stop() kills its task.
  void start(const std::string& id) {
    running_.emplace(
        id, std::async(std::launch::async, [this, a = run_args(id, kIdle)] { return ctr(a); }));
  }
  // The pid of a started container's task once it runs (its network is set up before: ctr's
  // ADD comes before task.Start); 0 if it does not within 20 s.
  pid_t wait_running(const std::string& id) {
    for (int i = 0; i < 200; ++i) {
      auto it = running_.find(id);
      if (it != running_.end() && it->second.wait_for(0s) == std::future_status::ready) break;
      for (const auto& line : lines(ctr({"task", "ls"}).out)) {
        std::istringstream f(line);
        std::string task, pid, status;
        if (f >> task >> pid >> status && task == id && status == "RUNNING") return std::stoi(pid);
      }
      std::this_thread::sleep_for(100ms);
    }
    return 0;
  }
  // Kills a started container's task and waits for its `ctr run` (which then runs DEL).
  test::Run stop(const std::string& id) {
    (void)ctr({"task", "kill", "-s", "SIGKILL", id});
    auto node = running_.extract(id);
    if (node.empty()) return {};
    return node.mapped().get();
  }

  static std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
      if (!l.empty()) out.push_back(l);
    }
    return out;
  }
  // A container's IPv4 address on eth0, as `ip` in its netns shows it.
  static std::string address_of(pid_t pid) {
    return trim(
        sh("nsenter --net=/proc/" + std::to_string(pid) +
           "/ns/net ip -4 -o addr show dev eth0 scope global | awk '{print $4}' | cut -d/ -f1"));
  }
  static Netns netns_of(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    const Netns ns{.ino = st.st_ino, .cookie = netns_cookie(path)};
    EXPECT_NE(ns.cookie, 0u) << "no cookie for " << path;
    return ns;
  }

  // After every container exited: no veth, no bridge, no rule, no lease, no record, no result
  // in libcni's cache, and none of the containers' netns.
  void expect_nothing_left(const std::string& network, const std::string& bridge,
                           const std::vector<Netns>& netns) {
    EXPECT_EQ(host_->veth_count(), 0) << host_->ip("-o link");
    EXPECT_FALSE(host_->link_exists(bridge));
    EXPECT_EQ(host_->nft(), "");
    EXPECT_EQ(host_->lease_count(network), 0u);
    EXPECT_EQ(host_->endpoint_count(network), 0u);
    auto ls = run_cmd("weirctl", {"--json", "ipam", "ls", "--data-dir", host_->data_dir()});
    EXPECT_EQ(ls.exit_code, 0) << ls.err;
    for (const auto& net : ls.json().value("networks", json::array())) {
      EXPECT_TRUE(net.value("leases", json::array()).empty()) << ls.out;
    }
    std::error_code ec;
    EXPECT_TRUE(fs::is_empty(dir_ + "/var-lib/cni/results", ec) ||
                !fs::exists(dir_ + "/var-lib/cni/results"))
        << sh("ls " + dir_ + "/var-lib/cni/results");
    for (const Netns& ns : netns) {
      EXPECT_EQ(netns_holder(ns), "") << "netns " << ns.ino << " still held";
    }
  }

  TempDir work_{"weir-ctr"};  // containerd's root, state, socket, log; the mounted folders
  std::optional<Host> host_;
  std::string dir_;
  std::string cgroup_;
  std::optional<Daemon> daemon_;
  std::map<std::string, std::future<test::Run>> running_;
};

TEST_F(Containerd, AddressFromWeirPingAndTeardown) {
  use_conflist("bridge.conflist");
  start("web");
  const pid_t pid = wait_running("web");
  ASSERT_GT(pid, 0) << stop("web").err;

  // An address from weir-ipam in the shipped range, on weir's bridge, recorded under ctr's id.
  const std::string ip = address_of(pid);
  EXPECT_TRUE(ip.starts_with("172.17.")) << ip;
  EXPECT_TRUE(host_->link_exists("weir0"));
  EXPECT_EQ(host_->veth_count(), 1);
  EXPECT_EQ(host_->lease_count("weir"), 1u);
  auto ep = host_->endpoint("weir", "default-web");
  ASSERT_TRUE(ep) << "no endpoint record for ctr's container id \"default-web\"";
  ASSERT_FALSE(ep->ips.empty());
  EXPECT_EQ(ep->ips[0].addr().str(), ip);
  const Netns ns = netns_of(pid);
  // What ctr sent and got, as libcni cached it (/var/lib/cni/results/<network>-<id>-<ifname>):
  // its id, no CNI_ARGS, no capability args; weir's result with the container's address.
  json cached =
      json::parse(read_file(dir_ + "/var-lib/cni/results/weir-default-web-eth0"), nullptr, false);
  EXPECT_EQ(cached.value("containerId", ""), "default-web") << cached;
  EXPECT_FALSE(cached.contains("cniArgs")) << cached;
  EXPECT_FALSE(cached.contains("capabilityArgs")) << cached;
  EXPECT_EQ(cached.value("/result/ips/0/address"_json_pointer, ""), ip + "/16") << cached;

  // A second container reaches it.
  auto ping = run("pinger", {"ping", "-c", "1", "-W", "3", ip});
  EXPECT_EQ(ping.exit_code, 0) << ping.out << ping.err;
  EXPECT_TRUE(has(ping.out, "1 packets received")) << ping.out;
  EXPECT_FALSE(has(ping.err, "network review")) << ping.err;  // ctr's DEL error

  auto web = stop("web");
  EXPECT_EQ(web.exit_code, 137) << web.err;  // SIGKILL
  EXPECT_FALSE(has(web.err, "network review")) << web.err;
  EXPECT_EQ(lines(ctr({"container", "ls", "-q"}).out).size(), 0u);
  expect_nothing_left("weir", "weir0", {ns});
}

TEST_F(Containerd, TenAtOnceDistinctAndReachable) {
  use_conflist("bridge.conflist");
  constexpr int kCount = 10;
  std::vector<std::string> ids;
  for (int i = 0; i < kCount; ++i) ids.push_back("c" + std::to_string(i));
  for (const auto& id : ids) start(id);  // all ten `ctr run` at once, so their ADDs race

  std::set<std::string> addrs;
  std::vector<Netns> netns;
  for (const auto& id : ids) {
    const pid_t pid = wait_running(id);
    ASSERT_GT(pid, 0) << id << ": " << stop(id).err;
    const std::string ip = address_of(pid);
    EXPECT_TRUE(ip.starts_with("172.17.")) << id << ": " << ip;
    addrs.insert(ip);
    netns.push_back(netns_of(pid));
  }
  EXPECT_EQ(addrs.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(host_->lease_count("weir"), static_cast<size_t>(kCount));
  EXPECT_EQ(host_->endpoint_count("weir"), static_cast<size_t>(kCount));
  EXPECT_EQ(host_->veth_count(), kCount);

  // One more container reaches every one of them.
  std::string loop = "for a in";
  for (const auto& a : addrs) loop += " " + a;
  loop += "; do ping -c 1 -W 3 $a >/dev/null || { echo unreachable $a; exit 1; }; done; echo all";
  auto ping = run("prober", {"sh", "-c", loop});
  EXPECT_EQ(ping.exit_code, 0) << ping.out << ping.err;
  EXPECT_EQ(trim(ping.out), "all") << ping.out;

  // All ten stopped at once too: their DELs race.
  for (const auto& id : ids) (void)ctr({"task", "kill", "-s", "SIGKILL", id});
  for (const auto& id : ids) {
    auto r = stop(id);
    EXPECT_EQ(r.exit_code, 137) << id << ": " << r.err;
    EXPECT_FALSE(has(r.err, "network review")) << id << ": " << r.err;
  }
  EXPECT_EQ(lines(ctr({"container", "ls", "-q"}).out).size(), 0u);
  expect_nothing_left("weir", "weir0", netns);
}

// conf/bridge-user.conflist: embedded DNS on the network's gateway. ctr gives no name, so the
// container is known by its short id: the first 12 characters of "default-web".
TEST_F(Containerd, ResolvesAnotherContainerByItsId) {
  use_conflist("bridge-user.conflist");
  start("web");
  const pid_t pid = wait_running("web");
  ASSERT_GT(pid, 0) << stop("web").err;
  const std::string ip = address_of(pid);
  ASSERT_FALSE(ip.empty());
  const Netns ns = netns_of(pid);

  // ctr does not write the result's DNS into the container, so the client names the server:
  // the gateway, the bridge's address.
  const std::string gw =
      trim(host_->ip("-4 -o addr show dev weir-appnet | awk '{print $4}' | cut -d/ -f1"));
  ASSERT_FALSE(gw.empty()) << host_->ip("-o addr");
  for (const std::string name : {"default-web", "default-web.appnet"}) {
    auto q = run("client", {"nslookup", name, gw});
    EXPECT_EQ(q.exit_code, 0) << name << ": " << q.out << q.err;
    EXPECT_TRUE(has(q.out, "Address: " + ip)) << name << ": " << q.out << q.err;
  }
  auto web = stop("web");
  EXPECT_FALSE(has(web.err, "network review")) << web.err;
  expect_nothing_left("appnet", "weir-appnet", {ns});
}

// `ctr run -d --cni` never sends DEL (ctr calls network.Remove only in a foreground run), so a
// detached container's lease and record outlive it; `weirctl gc` with its defaults (ctr's own
// folders: /etc/cni/net.d, /opt/cni/bin, libcni's cache in /var/lib/cni) finds its netns gone
// and removes them.
TEST_F(Containerd, DetachedRunIsCleanedByWeirctlGc) {
  use_conflist("bridge.conflist");
  auto det =
      ctr({"run", "-d", "--cni", "--cgroup", cgroup_ + "/det", kImage, "det", "sleep", "60"});
  ASSERT_EQ(det.exit_code, 0) << det.out << det.err;
  const pid_t pid = wait_running("det");
  ASSERT_GT(pid, 0);
  const Netns ns = netns_of(pid);
  EXPECT_EQ(host_->lease_count("weir"), 1u);
  (void)ctr({"task", "kill", "-s", "SIGKILL", "det"});
  for (int i = 0; i < 100 && fs::exists("/proc/" + std::to_string(pid)); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  auto rm = ctr({"task", "delete", "det"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  rm = ctr({"container", "delete", "det"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(host_->lease_count("weir"), 1u) << "ctr sent a DEL after all";

  auto gc = run_cmd(
      kNsenter, {"-t", std::to_string(daemon_->pid()), "-m", "-n", bin("weirctl"), "gc", "weir"});
  EXPECT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  expect_nothing_left("weir", "weir0", {ns});
}

}  // namespace
}  // namespace weir::test::bridge
