// Real weir-ipam processes on one store: 64 ADDs at once, then 64 DELs; and processes killed
// with SIGKILL at random moments. No root needed: the store lives in a temp folder.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <latch>
#include <random>
#include <set>
#include <thread>

#include "lib/store/sqlite.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using nlohmann::json;

std::string config(const TempDir& tmp, const std::string& subnet) {
  return json{
      {"cniVersion", "1.0.0"},
      {"name", "stress"},
      {"type", "weir-ipam"},
      {"ipam",
       {{"type", "weir-ipam"}, {"ranges", {{{{"subnet", subnet}}}}}, {"dataDir", tmp.path()}}}}
      .dump();
}

std::map<std::string, std::string> env_for(const std::string& command, const std::string& cid) {
  return cni_env(command, "/var/run/netns/" + cid, cid);
}

std::vector<store::Lease> leases_in(const TempDir& tmp) {
  std::vector<store::Lease> out;
  auto db = store::SqliteStore::open(store::database_path(tmp.path()));
  EXPECT_TRUE(db) << db.error().msg;
  if (!db) return out;
  auto ok = db->view([&](store::Txn& t) -> Expected<void> {
    auto l = t.list_leases("");
    if (!l) return fail(l.error());
    out = *l;
    return {};
  });
  EXPECT_TRUE(ok);
  auto verified = db->verify();
  EXPECT_TRUE(verified) << verified.error().msg;
  return out;
}

// A weir-ipam process whose stdin is a file (so killing it never breaks a pipe of ours).
class Child {
 public:
  Child(const std::string& stdin_path, const std::map<std::string, std::string>& env) {
    std::vector<std::string> vars;
    for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    std::string path = bin("weir-ipam");
    char* argv[] = {path.data(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, stdin_path.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, path.c_str(), &fa, nullptr, argv, envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  void kill() { ::kill(pid_, SIGKILL); }
  // The wait status; the child is reaped.
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }
  bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

TEST(IpamConcurrency, SixtyFourAddsAtOnceThenSixtyFourDels) {
  TempDir tmp;
  const std::string conf = config(tmp, "10.64.0.0/24");
  constexpr int kN = 64;
  auto launch_all = [&](const std::string& command) {
    std::vector<test::Run> runs(kN);
    std::latch go(kN);
    std::vector<std::thread> threads;
    for (int i = 0; i < kN; ++i) {
      threads.emplace_back([&, i] {
        go.arrive_and_wait();  // start together
        runs[i] = run_plugin("weir-ipam", env_for(command, "ctr" + std::to_string(i)), conf);
      });
    }
    for (auto& t : threads) t.join();
    return runs;
  };

  std::set<std::string> addrs;
  int errors = 0;
  for (const auto& r : launch_all("ADD")) {
    if (r.exit_code != 0) {
      ++errors;
      ADD_FAILURE() << r.out << r.err;
      continue;
    }
    addrs.insert(r.json()["ips"][0]["address"].get<std::string>());
  }
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(addrs.size(), size_t{kN});
  EXPECT_EQ(leases_in(tmp).size(), size_t{kN});

  for (const auto& r : launch_all("DEL")) EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(leases_in(tmp).empty());
}

// Kills batches of concurrent ADDs at random moments; after each batch the store must open,
// pass its checks and hold each address at most once; DEL then cleans up after every killed
// ADD, as a runtime does after a failed ADD.
TEST(IpamCrash, SigkillAtRandomMomentsLeavesAConsistentStore) {
  TempDir tmp;
  const std::string conf_path = tmp / "conf.json";
  std::ofstream(conf_path) << config(tmp, "10.65.0.0/22");
  std::mt19937 rng(std::random_device{}());
  constexpr int kRounds = 40;
  constexpr int kBatch = 4;
  std::set<std::string> completed;  // containers whose ADD finished
  int killed = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::unique_ptr<Child>> kids;
    std::vector<std::string> ids;
    for (int i = 0; i < kBatch; ++i) {
      ids.push_back("k" + std::to_string(round) + "-" + std::to_string(i));
      kids.push_back(std::make_unique<Child>(conf_path, env_for("ADD", ids.back())));
      ASSERT_TRUE(kids.back()->started());
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 5000));
    for (int i = 0; i < kBatch; ++i) {
      if (rng() % 4 != 0) kids[i]->kill();  // some are left to finish
      int status = kids[i]->wait();
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        completed.insert(ids[i]);
      } else {
        ++killed;
        ASSERT_TRUE(WIFSIGNALED(status)) << ids[i] << " failed with status " << status;
        auto del = run_plugin("weir-ipam", env_for("DEL", ids[i]), config(tmp, "10.65.0.0/22"));
        ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
      }
    }
    auto leases = leases_in(tmp);
    std::set<std::string> seen;
    for (const auto& l : leases) {
      EXPECT_TRUE(seen.insert(l.address.str()).second) << "duplicate " << l.address.str();
      EXPECT_TRUE(completed.contains(l.container_id)) << "orphan lease of " << l.container_id;
    }
    EXPECT_EQ(leases.size(), completed.size());
  }
  RecordProperty("killed", killed);
  RecordProperty("completed", static_cast<int>(completed.size()));
  for (const auto& id : completed) {
    auto del = run_plugin("weir-ipam", env_for("DEL", id), config(tmp, "10.65.0.0/22"));
    ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  }
  EXPECT_TRUE(leases_in(tmp).empty());
  std::cout << "[ crash    ] " << killed << " ADDs killed, " << completed.size() << " completed\n";
}

}  // namespace
}  // namespace weir::test
