// Shared by the tests of the embedded DNS through the real plugins and weir-agent: dig run
// inside a container netns, a fake upstream resolver bound inside a netns the test made, and
// the weir-agent processes of a data dir (to assert there is one, or none, and to kill a
// leftover one whatever happened).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/client/control.hpp"
#include "lib/netns/netns.hpp"
#include "tests/support/netns.hpp"

namespace weir::test::dns_fixture {

using Clock = std::chrono::steady_clock;

// What dig said: the rcode ("NOERROR", "NXDOMAIN", "SERVFAIL", "" when no reply came) and the
// answer section's data, in order.
struct Dig {
  std::string status;
  std::vector<std::string> records;
  double seconds = 0;
  std::string raw;
  std::set<std::string> set() const { return {records.begin(), records.end()}; }
};

inline std::ostream& operator<<(std::ostream& os, const Dig& d) {
  return os << d.status << " [" << d.raw << "]";
}

// dig from inside netns `ns_name` to `server` (one try, `timeout_s` to wait for it). `query` is
// what dig takes after the server: "web", "web AAAA", "-x 10.0.0.2".
inline Dig dig(const std::string& ns_name, const std::string& server, const std::string& query,
               int timeout_s = 6) {
  const auto t0 = Clock::now();
  Dig d;
  d.raw = sh("ip netns exec " + ns_name + " dig +tries=1 +time=" + std::to_string(timeout_s) +
             " +noall +comments +answer @" + server + " " + query + " 2>&1");
  d.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  static const std::regex status(R"(status: ([A-Z]+))");
  std::smatch m;
  if (std::regex_search(d.raw, m, status)) d.status = m[1];
  std::istringstream lines(d.raw);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == ';') continue;
    // name ttl class type data
    std::istringstream f(line);
    std::string name, ttl, cls, type, data;
    if (f >> name >> ttl >> cls >> type >> data) d.records.push_back(data);
  }
  return d;
}

// A resolver that plays the host's upstream: UDP on ip:53, bound inside the netns at
// `netns_path` and served from a thread. Answers A for the names it is given, NXDOMAIN for the
// rest; a silent one reads and never answers (an upstream that is down without telling).
class FakeUpstream {
 public:
  enum class Mode { kAnswer, kSilent };

  FakeUpstream(const std::string& netns_path, const std::string& ip, Mode mode = Mode::kAnswer)
      : mode_(mode) {
    auto ns = netns::Handle::open(netns_path);
    if (!ns) throw std::runtime_error("fake upstream: " + ns.error().msg);
    auto fd = netns::run_in(*ns, [&]() -> Expected<int> {
      int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (s < 0) return fail(cni::sys_error(errno, "socket"));
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(53);
      ::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
      if (::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        const int err = errno;
        ::close(s);
        return fail(cni::sys_error(err, "bind " + ip + ":53"));
      }
      return s;
    });
    if (!fd) throw std::runtime_error("fake upstream: " + fd.error().msg);
    fd_ = *fd;
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  void answer(const std::string& name, const std::string& ipv4) {
    std::lock_guard l(mu_);
    records_[name] = ipv4;
  }
  // The names asked, lowercase, without the trailing dot.
  std::vector<std::string> queries() const {
    std::lock_guard l(mu_);
    return queries_;
  }
  bool asked(const std::string& name) const {
    auto q = queries();
    return std::find(q.begin(), q.end(), name) != q.end();
  }

 private:
  void serve() {
    uint8_t buf[1500];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      sockaddr_storage peer{};
      socklen_t len = sizeof(peer);
      const ssize_t n =
          ::recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&peer), &len);
      if (n < 12) continue;
      size_t off = 12;
      std::string name;
      bool ok = true;
      while (off < static_cast<size_t>(n) && buf[off] != 0) {
        const size_t l = buf[off];
        if (l > 63 || off + 1 + l >= static_cast<size_t>(n)) {
          ok = false;
          break;
        }
        if (!name.empty()) name += '.';
        name.append(reinterpret_cast<const char*>(buf) + off + 1, l);
        off += 1 + l;
      }
      if (!ok || off + 5 > static_cast<size_t>(n)) continue;
      const uint16_t qtype = static_cast<uint16_t>(buf[off + 1] << 8 | buf[off + 2]);
      off += 5;  // the root label, qtype, qclass
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::optional<std::string> ip;
      {
        std::lock_guard l(mu_);
        queries_.push_back(name);
        if (auto it = records_.find(name); it != records_.end()) ip = it->second;
      }
      if (mode_ == Mode::kSilent) continue;
      // Header and question of the query; no EDNS in the reply.
      std::vector<uint8_t> out(buf, buf + off);
      out[2] = static_cast<uint8_t>(0x80 | (buf[2] & 0x01));  // QR, RD as asked
      out[3] = ip ? 0x80 : 0x83;                              // RA; NOERROR or NXDOMAIN
      for (int i = 4; i < 12; ++i) out[i] = 0;
      out[5] = 1;
      if (ip && qtype == 1) {
        out[7] = 1;
        const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
        out.insert(out.end(), std::begin(rr), std::end(rr));
        uint8_t a[4];
        ::inet_pton(AF_INET, ip->c_str(), a);
        out.insert(out.end(), a, a + 4);
      }
      ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&peer), len);
    }
  }

  Mode mode_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> records_;
  std::vector<std::string> queries_;
};

// A /proc file of a process, "" when it is gone. Not with an ifstream: libstdc++'s filebuf
// throws when read(2) fails, and reading a process that exits meanwhile fails with ESRCH.
inline std::string read_proc_file(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// weir-agent's worker, the child of its supervisor (the pid in agent.lock): the process that
// serves the DNS and the plugin calls.
inline std::optional<pid_t> worker_of(pid_t supervisor) {
  const std::string s = std::to_string(supervisor);
  std::istringstream kids(read_proc_file("/proc/" + s + "/task/" + s + "/children"));
  pid_t pid = 0;
  if (kids >> pid && pid > 0) return pid;
  return std::nullopt;
}

// The live weir-agent processes serving data_dir (zombies are gone already), found by their
// command line: a second agent, one that waits for the lock, counts too.
inline std::vector<pid_t> agent_processes(const std::string& data_dir) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  const std::string want = "--data-dir=" + data_dir;
  while (dirent* e = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    const std::string all = read_proc_file("/proc/" + std::string(e->d_name) + "/cmdline");
    std::vector<std::string> argv;
    for (size_t start = 0; start < all.size();) {
      const size_t end = all.find('\0', start);
      argv.push_back(all.substr(start, end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    if (argv.empty() || argv[0].size() < 10 ||
        argv[0].compare(argv[0].size() - 10, 10, "weir-agent") != 0) {
      continue;
    }
    if (std::find(argv.begin(), argv.end(), want) == argv.end()) continue;
    const std::string line = read_proc_file("/proc/" + std::string(e->d_name) + "/stat");
    if (line.empty()) continue;  // gone meanwhile
    const size_t paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') continue;
    out.push_back(pid);
  }
  ::closedir(proc);
  return out;
}

inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

inline bool agent_gone(const std::string& data_dir, std::chrono::milliseconds limit) {
  return wait_until(
      [&] { return agent_processes(data_dir).empty() && !agent::running_agent(data_dir); }, limit);
}

// The safety net of every test's TearDown: an agent still serving data_dir a few seconds after
// the test (which DELs everything, so its agent exits) is a failure (`report`: unless the test
// failed already), and is killed, found through its lock and its command line.
inline void expect_no_agent_left(const std::string& data_dir, bool report = true) {
  if (agent_gone(data_dir, std::chrono::seconds(report ? 3 : 0))) return;
  std::set<pid_t> pids;
  if (auto pid = agent::running_agent(data_dir)) pids.insert(*pid);
  for (pid_t p : agent_processes(data_dir)) pids.insert(p);
  if (report) {
    ADD_FAILURE() << "weir-agent still running for " << data_dir << " (" << pids.size()
                  << " process(es)); killed";
  }
  for (pid_t p : pids) ::kill(p, SIGKILL);
  agent_gone(data_dir, std::chrono::seconds(3));
}

inline std::string agent_log(const std::string& data_dir) {
  std::ifstream in(agent::paths_for(data_dir).log);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace weir::test::dns_fixture
