// Bad input, as an adversary or a careless config writer sends it (issue 13, items 11-13),
// through the real plugin binaries in private namespaces: every refusal carries the spec's code
// for its cause, names what is wrong, and comes before anything is made; a DEL that cannot write
// the store changes nothing, and its retry removes everything.
#include <sys/mount.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>

#include "agent/client/control.hpp"
#include "tests/support/bridge_fixture.hpp"

namespace weir::test::bridge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<std::string> kPlugins = {"weir-bridge", "weir-ipam", "weir-macvlan", "weir-host",
                                           "weir-none"};

// A failed call as the spec wants it: exit 1, the error JSON alone on stdout, this code, and
// a message that says what is wrong.
void expect_error(const Run& r, int code, const std::string& needle, const std::string& what) {
  EXPECT_EQ(r.exit_code, 1) << what << "\nstdout: " << r.out << "\nstderr: " << r.err;
  const json j = r.json();
  ASSERT_TRUE(j.is_object()) << what << ": stdout is not the error JSON: " << r.out;
  EXPECT_EQ(j.value("code", -1), code) << what << ": " << r.out;
  ASSERT_TRUE(j.contains("msg") && j["msg"].is_string()) << what << ": " << r.out;
  EXPECT_THAT(j["msg"].get<std::string>(), HasSubstr(needle)) << what;
}

// Links in a netns other than lo.
std::string links_in(const std::string& ns) {
  return sh("ip -n " + ns + " -o link show | awk -F': ' '{print $2}' | grep -v '^lo$' || true");
}

// A config of `plugin` with every store in `dir`, as text (so that a test can put in what no
// JSON library writes: 1e400, bytes that are not UTF-8).
json base_conf(const std::string& plugin, const std::string& dir) {
  json c = {{"cniVersion", "1.1.0"}, {"name", "adv"}, {"type", plugin}};
  const json ipam = {{"type", "weir-ipam"}, {"ranges", {{{{"subnet", "10.63.0.0/24"}}}}}, {"dataDir", dir}};
  if (plugin == "weir-bridge") {
    c["bridge"] = "bradv0";
    c["ipam"] = ipam;
  } else if (plugin == "weir-ipam") {
    c["ipam"] = ipam;
  } else if (plugin == "weir-macvlan") {
    c["master"] = "mvadv0";
    c["ipam"] = ipam;
  }
  if (plugin != "weir-none") c["dataDir"] = dir;
  return c;
}

class AdversaryInput : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    // A mount namespace of our own (and our children's), for the tests that put a small disk
    // under the store.
    ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << std::strerror(errno);
    ASSERT_EQ(::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
    host_.emplace();
    ctr_.emplace("adv-ctr");
    host_->ip("link set lo up");
  }
  void TearDown() override {
    if (host_) {
      if (auto pid = agent::running_agent(host_->data_dir())) ::kill(*pid, SIGKILL);
    }
  }
  test::Run call(const std::string& plugin, const std::string& command, const std::string& conf,
           const std::string& ifname = "eth0") {
    return host_->plugin_text(command, ctr_->path(), ctr_->id, conf, ifname, plugin);
  }
  // Nothing in the host netns or the container but lo, and no file in the store folder.
  void expect_nothing_made(const std::string& what) {
    EXPECT_EQ(links_in(host_->name()), "") << what;
    EXPECT_EQ(links_in(ctr_->ns.name()), "") << what;
    EXPECT_TRUE(fs::is_empty(host_->data_dir())) << what << ": " << sh("ls -A " + host_->data_dir());
  }

  std::optional<Host> host_;
  std::optional<Container> ctr_;
};

// Issue 13, item 11: a relative dataDir would be the runtime's working directory.
TEST_F(AdversaryInput, RelativeDataDirIsRefusedWithCode7BeforeAnythingIsMade) {
  TempDir cwd("weir-adv-cwd");
  const fs::path was = fs::current_path();
  fs::current_path(cwd.path());
  struct Back {
    fs::path to;
    ~Back() { fs::current_path(to); }
  } back{was};

  struct Case {
    std::string plugin;
    std::string field;  // set to "rel/weir"
  };
  for (const Case& c : {Case{"weir-bridge", "dataDir"}, Case{"weir-bridge", "ipam.dataDir"},
                        Case{"weir-ipam", "ipam.dataDir"}, Case{"weir-ipam", "dataDir"},
                        Case{"weir-macvlan", "dataDir"}, Case{"weir-macvlan", "ipam.dataDir"},
                        Case{"weir-host", "dataDir"}}) {
    json conf = base_conf(c.plugin, host_->data_dir());
    if (c.field == "dataDir") {
      conf["dataDir"] = "rel/weir";
      if (conf.contains("ipam")) conf["ipam"].erase("dataDir");
    } else {
      conf.erase("dataDir");
      conf["ipam"]["dataDir"] = "rel/weir";
    }
    const std::string what = c.plugin + " with " + c.field + " \"rel/weir\"";
    for (const char* verb : {"ADD", "DEL"}) {
      expect_error(call(c.plugin, verb, conf.dump()), 7,
                   "\"" + c.field + "\" must be an absolute path, not \"rel/weir\"",
                   what + " " + verb);
    }
    EXPECT_TRUE(fs::is_empty(cwd.path())) << what << ": " << sh("ls -AR " + cwd.path());
    expect_nothing_made(what);
  }
}

// Issue 13, item 12: bytes that are not UTF-8 are input that cannot be decoded (6), not 999,
// and the error JSON printed is valid JSON.
TEST_F(AdversaryInput, InvalidUtf8IsCode6WithValidJsonOut) {
  for (const auto& plugin : kPlugins) {
    std::string text = base_conf(plugin, host_->data_dir()).dump();
    for (const std::string bad : {"\xff", "\xc0\x80", "\xed\xa0\x80", "\xe2\x82"}) {
      std::string conf = text;
      conf.insert(conf.find("adv") + 3, bad);  // inside the network name
      for (const char* verb : {"ADD", "CHECK", "DEL"}) {
        expect_error(call(plugin, verb, conf), 6, "UTF-8", plugin + " " + verb);
      }
    }
  }
  expect_nothing_made("invalid UTF-8");
}

// Issue 13, item 12: a number no double holds is its field's error (7), named, not 999; so are
// numbers out of the field's range.
TEST_F(AdversaryInput, OutOfRangeNumbersAreCode7NamingTheField) {
  struct Case {
    std::string plugin;
    std::string key;    // set at the top level of the config, as text
    std::string value;
    std::string needle;
  };
  const std::string ports = R"({"portMappings":[{"hostPort":8080,"containerPort":80},{"hostPort":1e999,"containerPort":80}]})";
  for (const Case& c : {
           Case{"weir-bridge", "mtu", "1e400", "\"mtu\" is out of range: 1e400"},
           Case{"weir-bridge", "mtu", "-1e400", "\"mtu\" is out of range: -1e400"},
           Case{"weir-bridge", "vethQueues", "1E+999", "\"vethQueues\" is out of range"},
           Case{"weir-bridge", "runtimeConfig", ports,
                "\"runtimeConfig.portMappings[1].hostPort\" is out of range: 1e999"},
           Case{"weir-bridge", "mtu", "99999999999999999999", "\"mtu\" must be"},
           Case{"weir-bridge", "mtu", "1e20", "\"mtu\" must be"},
           Case{"weir-bridge", "mtu", "70000", "\"mtu\" must be between 0 and 65535"},
           Case{"weir-macvlan", "mtu", "1e400", "\"mtu\" is out of range"},
           Case{"weir-ipam", "x", "[0,[1,2e308]]", "\"x[1][1]\" is out of range: 2e308"},
           Case{"weir-host", "y", "{\"z\":-9e999}", "\"y.z\" is out of range"},
           Case{"weir-none", "mtu", "1e400", "\"mtu\" is out of range"}}) {
    std::string conf = base_conf(c.plugin, host_->data_dir()).dump();
    conf.insert(conf.size() - 1, ",\"" + c.key + "\":" + c.value);
    for (const char* verb : {"ADD", "DEL"}) {
      expect_error(call(c.plugin, verb, conf), 7, c.needle, c.plugin + " " + verb + " " + c.key + "=" + c.value);
    }
  }
  expect_nothing_made("out-of-range numbers");
}

// Issue 13, item 12: subnets no container address can be in fail as the field they are (7),
// before the store, the bridge or the veth is made (they failed late with 100).
TEST_F(AdversaryInput, ImpossibleSubnetsAreCode7BeforeAnythingIsMade) {
  for (const std::string subnet :
       {"0.0.0.0/0", "::/0", "224.0.0.0/24", "224.0.0.0/4", "239.1.0.0/16", "ff00::/8", "ff02::/16",
        "127.0.0.0/8", "127.5.0.0/16", "0.0.0.0/1", "128.0.0.0/1", "fe80::/64", "::/64"}) {
    for (const std::string plugin : {"weir-bridge", "weir-ipam", "weir-macvlan"}) {
      json conf = base_conf(plugin, host_->data_dir());
      conf["ipam"]["ranges"] = {{{{"subnet", subnet}}}};
      const std::string what = plugin + " with subnet " + subnet;
      expect_error(call(plugin, "ADD", conf.dump()), 7, "\"ipam.ranges[0][0].subnet\"", what);
      expect_nothing_made(what);
    }
  }
  // The legacy single subnet is the same field by its own name.
  json conf = base_conf("weir-bridge", host_->data_dir());
  conf["ipam"].erase("ranges");
  conf["ipam"]["subnet"] = "224.0.0.0/24";
  expect_error(call("weir-bridge", "ADD", conf.dump()), 7, "\"ipam.subnet\": 224.0.0.0/24 overlaps the IPv4 multicast range",
               "legacy subnet");
  expect_nothing_made("legacy subnet");
}

// Issue 13, item 12: interface names the kernel refuses, or takes for something else, are
// invalid environment variables (4), refused before anything is made ("all" and "default"
// failed late with 100, once the veth's sysctls clashed).
TEST_F(AdversaryInput, InterfaceNamesTheKernelRefusesAreCode4) {
  for (const std::string ifname : {"all", "default", ".", "..", "eth%d", "a b", "a\tb", "x/y", "a:b",
                                   "sixteen-chars-xx", "\xff", "a\x01"}) {
    for (const auto& plugin : kPlugins) {
      const std::string what = plugin + " with CNI_IFNAME \"" + ifname + "\"";
      for (const char* verb : {"ADD", "DEL"}) {
        expect_error(call(plugin, verb, base_conf(plugin, host_->data_dir()).dump(), ifname), 4,
                     "interface name", what + " " + verb);
      }
      expect_nothing_made(what);
    }
  }
}

// tmpfs of `size` over `dir`, in the test's own mount namespace (SetUp), unmounted when it goes.
class SmallDisk {
 public:
  SmallDisk(const std::string& dir, const std::string& size) : dir_(dir) {
    const std::string opts = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
      error_ = std::string("tmpfs: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  const std::string& error() const { return error_; }

  // Writes a file until the disk is full (ENOSPC).
  bool fill() {
    std::ofstream out(dir_ + "/filler", std::ios::binary);
    const std::string mb(1 << 20, 'x');
    for (int i = 0; i < 1024 && out; ++i) out.write(mb.data(), static_cast<std::streamsize>(mb.size()));
    out.close();
    return fs::exists(dir_ + "/filler");
  }
  void free() { fs::remove(dir_ + "/filler"); }

 private:
  std::string dir_;
  std::string error_;
  bool mounted_ = false;
};

// Issue 13, item 13: a DEL that cannot write the store (here: its disk is full) fails with the
// store's code and leaves everything as it was — the veth there and up, its rules, the lease and
// the record (it used to have deleted the veth and the rules already). Once there is room, DEL
// again removes everything.
TEST_F(AdversaryInput, DelThatCannotWriteTheStoreChangesNothingAndItsRetryCleansUp) {
  SmallDisk disk(host_->data_dir(), "4m");
  ASSERT_EQ(disk.error(), "");
  json conf = bridge_conf(*host_, "fullnet", "brfull0", {"10.64.0.0/24"});
  conf["macspoofchk"] = true;  // the endpoint has nft rules of its own
  auto add = host_->add(*ctr_, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  // The DEL runs here, not in the agent the ADD started (which holds the store open).
  if (auto pid = agent::running_agent(host_->data_dir())) {
    ::kill(*pid, SIGKILL);
    for (int i = 0; i < 100 && agent::running_agent(host_->data_dir()); ++i) ::usleep(10000);
  }
  const auto ep = host_->endpoint("fullnet", ctr_->id);
  ASSERT_TRUE(ep);
  const std::string veth = ep->host_ifname;
  const std::string rules = host_->nft();
  ASSERT_THAT(rules, HasSubstr(veth));

  ASSERT_TRUE(disk.fill());
  auto del = host_->del(*ctr_, conf, {{"CNI_NETNS", ""}});
  expect_error(del, 102, "full", "DEL on a full disk");
  disk.free();

  EXPECT_TRUE(host_->link_exists(veth)) << "the veth was deleted by a DEL that failed";
  EXPECT_THAT(host_->ip("link show dev " + veth), HasSubstr(",UP")) << "left down";
  EXPECT_THAT(ctr_->ip("-4 addr show dev eth0"), HasSubstr("10.64.0.2/24"));
  EXPECT_EQ(host_->nft(), rules);
  EXPECT_EQ(host_->lease_count("fullnet"), 1u);
  EXPECT_EQ(host_->endpoint_count("fullnet"), 1u);

  auto again = host_->del(*ctr_, conf, {{"CNI_NETNS", ""}});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_FALSE(host_->link_exists(veth));
  EXPECT_FALSE(host_->link_exists("brfull0"));
  EXPECT_EQ(host_->lease_count("fullnet"), 0u);
  EXPECT_EQ(host_->endpoint_count("fullnet"), 0u);
  EXPECT_THAT(host_->nft(), Not(HasSubstr("weir")));
  EXPECT_EQ(links_in(ctr_->ns.name()), "");
}

// The same for weir-macvlan: it used to delete the container's macvlan before the store said no.
TEST_F(AdversaryInput, MacvlanDelThatCannotWriteTheStoreChangesNothingAndItsRetryCleansUp) {
  SmallDisk disk(host_->data_dir(), "4m");
  ASSERT_EQ(disk.error(), "");
  int rc = -1;
  sh("ip -n " + host_->name() + " link add mvadv0 type veth peer name mvadv1 && ip -n " + host_->name() +
         " link set mvadv0 up && ip -n " + host_->name() + " link set mvadv1 up",
     &rc);
  ASSERT_EQ(rc, 0);
  const json conf = base_conf("weir-macvlan", host_->data_dir());
  auto add = call("weir-macvlan", "ADD", conf.dump());
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  ASSERT_THAT(ctr_->ip("-d link show dev eth0"), HasSubstr("macvlan"));

  ASSERT_TRUE(disk.fill());
  expect_error(call("weir-macvlan", "DEL", conf.dump()), 102, "full", "DEL on a full disk");
  disk.free();
  EXPECT_THAT(ctr_->ip("-d link show dev eth0"), HasSubstr("macvlan")) << "deleted by a DEL that failed";
  EXPECT_EQ(host_->lease_count("adv"), 1u);
  EXPECT_EQ(host_->endpoint_count("adv"), 1u);

  auto again = call("weir-macvlan", "DEL", conf.dump());
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(links_in(ctr_->ns.name()), "");
  EXPECT_EQ(host_->lease_count("adv"), 0u);
  EXPECT_EQ(host_->endpoint_count("adv"), 0u);
}

}  // namespace
}  // namespace weir::test::bridge
