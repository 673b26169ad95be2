// The store and the data folder attacked (issue 13, items 9 and 10), through the real binaries
// in a private host netns: a truncated, foreign or unknown store is refused (102, naming the
// file) with or without weir-agent running, and `weirctl store rebuild` brings ADD back without
// handing out an address in use; a data folder others can write, files in it that are links,
// an impostor agent.sock and planted endpoint records get nothing from root.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "agent/client/control.hpp"
#include "tests/support/bridge_fixture.hpp"
#include "tests/support/dns_fixture.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test::bridge {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;

std::string db_path(const Host& host) { return host.data_dir() + "/weir.db"; }

Run weirctl(const Host& host, const std::vector<std::string>& args) {
  std::vector<std::string> all = {"--net=" + host.path(), bin("weirctl")};
  all.insert(all.end(), args.begin(), args.end());
  return run_cmd(kNsenter, all);
}

// The agent a successful ADD started in the background, once it listens.
bool agent_listening(const std::string& data_dir) {
  const auto socket = agent::paths_for(data_dir).socket;
  return dns_fixture::wait_until(
      [&] { return agent::running_agent(data_dir) && fs::exists(socket); }, 3s);
}

// The agent a successful ADD started in the background, stopped (SIGTERM); `started`: wait
// for it to listen first (it may not have yet), else stop whatever runs (it may be exiting).
void stop_agent(const std::string& data_dir, bool started = true) {
  if (started) {
    ASSERT_TRUE(agent_listening(data_dir));
  }
  if (auto pid = agent::running_agent(data_dir)) ::kill(*pid, SIGTERM);
  ASSERT_TRUE(dns_fixture::agent_gone(data_dir, 3s));
}

std::string text_of(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void set_user_version(const std::string& path, int v) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const std::string sql = "PRAGMA user_version = " + std::to_string(v);
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

class StoreAdversary : public ::testing::Test {
 protected:
  void SetUp() override { WEIR_REQUIRE_ROOT(); }
  void TearDown() override {
    if (host_) dns_fixture::expect_no_agent_left(host_->data_dir(), false);
  }
  Host& host() {
    if (!host_) host_.emplace();
    return *host_;
  }
  // Two running containers (a local ADD, then one the agent runs), and the agent listening.
  void two_containers(const json& conf, Container& a, Container& b) {
    auto ra = host().add(a, conf);
    ASSERT_EQ(ra.exit_code, 0) << ra.out << ra.err;
    ASSERT_TRUE(agent_listening(host().data_dir()));
    auto rb = host().add(b, conf);
    ASSERT_EQ(rb.exit_code, 0) << rb.out << rb.err;
  }
  // An ADD that must be refused with 102 naming the store file.
  void expect_refused(const Container& c, const json& conf, const std::string& why) {
    auto r = host().add(c, conf);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(r.json()["code"], 102) << r.out;
    const std::string msg = r.json().value("msg", "");
    EXPECT_THAT(msg, HasSubstr(db_path(host()))) << "the message names the file";
    EXPECT_THAT(msg, HasSubstr(why));
    EXPECT_EQ(c.addr(), "") << "nothing was made for it";
  }
  std::optional<Host> host_;
};

// `truncate -s 0 weir.db` under a running agent: every ADD is refused (no empty store made under
// live containers), then `weirctl store rebuild` takes the addresses back from the kernel's
// links, and the next ADD gets a free one.
TEST_F(StoreAdversary, TruncatedWithAgentRunningIsRefusedThenRebuilt) {
  json conf = bridge_conf(host(), "snet", "wsa0", {"10.61.0.0/24"});
  Container a("st-a"), b("st-b"), c("st-c");
  two_containers(conf, a, b);
  ASSERT_EQ(a.addr(), "10.61.0.2");
  ASSERT_EQ(b.addr(), "10.61.0.3");
  ASSERT_TRUE(agent::running_agent(host().data_dir()));

  fs::resize_file(db_path(host()), 0);
  expect_refused(c, conf, "empty");
  expect_refused(c, conf, "weirctl store rebuild");
  EXPECT_EQ(fs::file_size(db_path(host())), 0u) << "never recreated in place";

  auto check = weirctl(host(), {"store", "check", "--data-dir", host().data_dir()});
  EXPECT_NE(check.exit_code, 0);
  EXPECT_THAT(check.err, HasSubstr("CNI error 102"));

  auto rebuild = weirctl(host(), {"store", "rebuild", "--data-dir", host().data_dir()});
  ASSERT_EQ(rebuild.exit_code, 0) << rebuild.out << rebuild.err;
  EXPECT_THAT(rebuild.out, HasSubstr("2 endpoints and 2 leases from 2 host veths")) << rebuild.out;
  EXPECT_TRUE(fs::exists(rebuild.out.substr(rebuild.out.find("aside: ") + 7,
                                            rebuild.out.find(" (") - rebuild.out.find("aside: ") - 7)))
      << "the old file is kept: " << rebuild.out;
  auto checked = weirctl(host(), {"store", "check", "--data-dir", host().data_dir()});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;

  auto rc = host().add(c, conf);
  ASSERT_EQ(rc.exit_code, 0) << rc.out << rc.err;
  EXPECT_EQ(c.addr(), "10.61.0.4") << "not an address a running container has";
  EXPECT_TRUE(c.ping("10.61.0.2"));
  // DEL works from the rebuilt records: the veths go, and so does everything else.
  for (const Container* x : {&a, &b, &c}) {
    auto d = host().del(*x, conf);
    EXPECT_EQ(d.exit_code, 0) << d.out << d.err;
  }
  EXPECT_EQ(host().veth_count(), 0);
  EXPECT_EQ(host().lease_count("snet"), 0u);
}

TEST_F(StoreAdversary, TruncatedWithoutAgentIsRefused) {
  json conf = bridge_conf(host(), "snet", "wsb0", {"10.62.0.0/24"});
  Container a("st-a"), b("st-b"), c("st-c");
  two_containers(conf, a, b);
  stop_agent(host().data_dir());
  fs::resize_file(db_path(host()), 0);
  expect_refused(c, conf, "empty");
  // weir-ipam alone, too.
  json ipam_conf = {{"cniVersion", "1.1.0"},
                    {"name", "snet"},
                    {"ipam", conf["ipam"]}};
  auto r = run_plugin("weir-ipam", cni_env("ADD", c.path(), "ipam-only"), ipam_conf.dump());
  EXPECT_EQ(r.json()["code"], 102) << r.out << r.err;
  EXPECT_THAT(r.json().value("msg", ""), HasSubstr(db_path(host())));
  EXPECT_FALSE(agent::running_agent(host().data_dir())) << "a refused ADD starts no agent";
}

TEST_F(StoreAdversary, GarbageAndForeignFilesAreRefused) {
  json conf = bridge_conf(host(), "snet", "wsc0", {"10.63.0.0/24"});
  Container c("st-c");
  {
    std::ofstream out(db_path(host()));
    for (int i = 0; i < 200; ++i) out << "this is not a database, whatever its name says\n";
  }
  expect_refused(c, conf, "not an SQLite database");
  fs::remove(db_path(host()));
  // An SQLite file of another program (no weir schema).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path(host()).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  expect_refused(c, conf, "without weir's schema");
  EXPECT_FALSE(agent::running_agent(host().data_dir()));
}

TEST_F(StoreAdversary, UnknownSchemaIsRefusedWithAndWithoutAgent) {
  json conf = bridge_conf(host(), "snet", "wsd0", {"10.64.0.0/24"});
  Container a("st-a"), b("st-b"), c("st-c");
  two_containers(conf, a, b);
  set_user_version(db_path(host()), 99);
  expect_refused(c, conf, "schema version 99");
  stop_agent(host().data_dir(), false);  // it may be exiting: it has nothing it can read
  expect_refused(c, conf, "schema version 99");
  // The rebuild keeps what the old file still holds (its tables are readable).
  auto rebuild = weirctl(host(), {"store", "rebuild", "--data-dir", host().data_dir()});
  ASSERT_EQ(rebuild.exit_code, 0) << rebuild.out << rebuild.err;
  EXPECT_THAT(rebuild.out, HasSubstr("2 endpoints and 2 leases from the old file")) << rebuild.out;
  auto rc = host().add(c, conf);
  ASSERT_EQ(rc.exit_code, 0) << rc.out << rc.err;
  EXPECT_EQ(c.addr(), "10.64.0.4");
  for (const Container* x : {&a, &b, &c}) EXPECT_EQ(host().del(*x, conf).exit_code, 0);
}

// A data folder in a folder everyone can write, or owned by another user: refused before
// anything is made in it.
TEST_F(StoreAdversary, DataFolderOthersCanChangeIsRefused) {
  TempDir base("weir-adv");
  const std::string open = base / "open";
  fs::create_directory(open);
  ::chmod(open.c_str(), 0777);
  const std::string theirs = base / "theirs";
  fs::create_directory(theirs);
  ASSERT_EQ(::chown(theirs.c_str(), kNobody, kNobody), 0);
  Container c("st-c");
  struct Case {
    std::string data_dir;
    std::string why;
  };
  for (const Case& k : {Case{open + "/weir", "\"" + open + "\" is writable by group or others"},
                        Case{open, "data folder \"" + open + "\" is writable by group or others"},
                        Case{theirs, "belongs to uid 65534"}}) {
    json conf = bridge_conf(host(), "snet", "wse0", {"10.65.0.0/24"});
    conf["ipam"]["dataDir"] = k.data_dir;
    auto r = host().add(c, conf);
    EXPECT_EQ(r.json()["code"], 102) << k.data_dir << ": " << r.out << r.err;
    EXPECT_THAT(r.json().value("msg", ""), HasSubstr(k.why));
    EXPECT_FALSE(host().link_exists("wse0"));
  }
  EXPECT_FALSE(fs::exists(open + "/weir")) << "nothing created";
  EXPECT_TRUE(fs::is_empty(open));
  EXPECT_TRUE(fs::is_empty(theirs));
}

// agent.lock, agent.log, weir.db, bridges.lock as links to a file of root's: nothing is
// written through them, and a link in place of the store refuses the call.
TEST_F(StoreAdversary, LinksInTheDataFolderAreNotFollowed) {
  TempDir outside("weir-adv-target");
  const std::string target = outside / "precious";
  const std::string precious = "root's file, not to be truncated\n";
  std::ofstream(target) << precious;
  json conf = bridge_conf(host(), "snet", "wsf0", {"10.66.0.0/24"});
  for (const char* name : {"weir.db", "bridges.lock"}) {
    const std::string link = host().data_dir() + "/" + name;
    fs::remove(link);  // made by an earlier call
    fs::create_symlink(target, link);
    Container c(std::string("st-") + name[0]);
    auto r = host().add(c, conf);
    EXPECT_EQ(r.json()["code"], 102) << name << ": " << r.out << r.err;
    EXPECT_THAT(r.json().value("msg", ""), HasSubstr(link)) << name;
    EXPECT_EQ(text_of(target), precious) << name;
    fs::remove(link);
    ASSERT_EQ(host().del(c, conf).exit_code, 0);
    dns_fixture::expect_no_agent_left(host().data_dir(), false);
  }
  // The agent's own files: the ADD runs (locally), the agent it starts opens no link.
  for (const char* name : {"agent.lock", "agent.log"}) {
    const std::string link = host().data_dir() + "/" + name;
    fs::remove(link);
    fs::create_symlink(target, link);
    Container c(std::string("st-") + name[6]);
    auto r = host().add(c, conf);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.out << r.err;
    auto again = host().add(c, conf);  // a second call, to whatever agent there is
    EXPECT_EQ(again.json()["code"], 4) << again.out;
    EXPECT_EQ(text_of(target), precious) << name;
    EXPECT_TRUE(fs::is_symlink(link));
    ASSERT_EQ(host().del(c, conf).exit_code, 0);
    dns_fixture::expect_no_agent_left(host().data_dir(), false);
    fs::remove(link);
  }
}

// An agent.sock whose listener runs as another user (made by root, listened on as nobody):
// the plugin sends it nothing, and says why.
TEST_F(StoreAdversary, ImpostorAgentSocketGetsNothing) {
  json conf = bridge_conf(host(), "snet", "wsg0", {"10.67.0.0/24"});
  const std::string sock_path = host().data_dir() + "/agent.sock";
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(report[0]);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) ::_exit(2);
    if (::setresgid(kNobody, kNobody, kNobody) != 0 || ::setresuid(kNobody, kNobody, kNobody) != 0) ::_exit(3);
    if (::listen(fd, 8) != 0) ::_exit(4);
    const char ready = 'r';
    (void)!::write(report[1], &ready, 1);
    for (;;) {  // one line per connection: the bytes it sent
      const int conn = ::accept(fd, nullptr, nullptr);
      if (conn < 0) ::_exit(5);
      size_t total = 0;
      char buf[4096];
      ssize_t n;
      while ((n = ::read(conn, buf, sizeof(buf))) > 0) total += static_cast<size_t>(n);
      ::close(conn);
      const std::string line = std::to_string(total) + "\n";
      (void)!::write(report[1], line.data(), line.size());
    }
  }
  ::close(report[1]);
  char ready = 0;
  ASSERT_EQ(::read(report[0], &ready, 1), 1);

  Container c("st-i");
  for (const char* plugin : {"weir-bridge", "weir-front-libc"}) {
    auto r = host().plugin("ADD", c.path(), c.id, conf, {}, "eth0", plugin);
    EXPECT_EQ(r.json()["code"], 102) << plugin << ": " << r.out << r.err;
    EXPECT_THAT(r.json().value("msg", ""), HasSubstr("served by a process of another user")) << plugin;
    EXPECT_EQ(c.addr(), "");
  }
  // One report per connection the impostor got (a bound on the wait, not a timing: an agent
  // started meanwhile would take over the path, and no more reports come).
  std::string lines;
  while (std::count(lines.begin(), lines.end(), '\n') < 2) {
    pollfd p{report[0], POLLIN, 0};
    char ch;
    if (::poll(&p, 1, 5000) <= 0 || ::read(report[0], &ch, 1) != 1) break;
    lines += ch;
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ::close(report[0]);
  EXPECT_EQ(lines, "0\n0\n") << "the impostor got a connection per call, and not a byte";
  EXPECT_FALSE(host().link_exists("wsg0"));
}

// Endpoint records planted in the store name host links that are not weir's (a dummy, a veth
// without this store's mark): DEL and GC of those records leave the links alone.
TEST_F(StoreAdversary, PlantedRecordsDeleteNoForeignLink) {
  json conf = bridge_conf(host(), "pnet", "wsh0", {"10.68.0.0/24"});
  Container a("st-a");
  auto ra = host().add(a, conf);
  ASSERT_EQ(ra.exit_code, 0) << ra.out << ra.err;
  stop_agent(host().data_dir());
  // Not weir's: a bridge of somebody else's, and a veth pair without our mark.
  host().ip("link add wplant0 type bridge");
  host().ip("link add wplantv type veth peer name wplantp");
  ASSERT_TRUE(host().link_exists("wplant0") && host().link_exists("wplantv"));
  {
    auto db = store::SqliteStore::open(db_path(host()));
    ASSERT_TRUE(db) << db.error().msg;
    auto ok = db->transact([&](store::Txn& t) -> Expected<void> {
      for (auto [id, link] : {std::pair{"planted1", "wplant0"}, std::pair{"planted2", "wplantv"},
                              std::pair{"planted3", "wplantp"}}) {
        if (auto put = t.put_endpoint({.network = "pnet",
                                       .container_id = id,
                                       .ifname = "eth0",
                                       .netns = "/var/run/netns/nonexistent",
                                       .host_ifname = link,
                                       .extra = R"({"bridge":"wsh0"})"});
            !put) {
          return put;
        }
      }
      return {};
    });
    ASSERT_TRUE(ok) << ok.error().msg;
  }
  Container planted("st-p");
  planted.id = "planted1";
  auto del = host().del(planted, conf);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(host().link_exists("wplant0")) << "DEL of a planted record deleted a host link";
  json gc = conf;
  gc["cni.dev/valid-attachments"] = json::array({{{"containerID", a.id}, {"ifname", "eth0"}}});
  auto r = host().plugin("GC", "", "", gc, {{"CNI_NETNS", ""}, {"CNI_CONTAINERID", ""}, {"CNI_IFNAME", ""}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(host().link_exists("wplantv")) << "GC of a planted record deleted a host veth";
  EXPECT_TRUE(host().link_exists("wplantp"));
  EXPECT_EQ(host().endpoint_count("pnet"), 1u) << "the planted records are gone, a's stays";
  // weir's own veth still goes on DEL.
  const std::string veth = ra.json()["interfaces"][1]["name"];
  ASSERT_EQ(host().del(a, conf).exit_code, 0);
  EXPECT_FALSE(host().link_exists(veth));
}

// issue 13 item 12: a read-only data folder (a read-only mount) is the store's failure, said
// for the folder, before anything is made; not code 5 from a lock file.
TEST_F(StoreAdversary, ReadOnlyDataFolderIsAStoreError) {
  json conf = bridge_conf(host(), "snet", "wsr0", {"10.69.0.0/24"});
  Container a("st-a"), b("st-b");
  auto ra = host().add(a, conf);
  ASSERT_EQ(ra.exit_code, 0) << ra.out << ra.err;
  stop_agent(host().data_dir());
  // weir-bridge in a private mount namespace where the data folder is mounted read-only.
  auto env = cni_env("ADD", b.path(), b.id, "eth0");
  std::vector<std::string> args = {"--mount", "--propagation", "private", "/bin/sh", "-c",
                                   "mount --bind \"$0\" \"$0\" && mount -o remount,ro,bind \"$0\" && exec \"$@\"",
                                   host().data_dir(), kNsenter, "--net=" + host().path(), "/usr/bin/env", "-i",
                                   "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  for (const auto& [k, v] : env) args.push_back(k + "=" + v);
  args.push_back(bin("weir-bridge"));
  auto r = run_cmd("/usr/bin/unshare", args, {}, conf.dump());
  EXPECT_EQ(r.json()["code"], 102) << r.out << r.err;
  EXPECT_THAT(r.json().value("msg", ""),
              HasSubstr("data folder \"" + host().data_dir() + "\" is on a read-only file system"));
  EXPECT_EQ(b.addr(), "");
  EXPECT_EQ(host().veth_count(), 1) << "nothing made for b";
  ASSERT_EQ(host().del(a, conf).exit_code, 0);
}

}  // namespace
}  // namespace weir::test::bridge
