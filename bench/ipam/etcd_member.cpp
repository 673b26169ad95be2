#include "bench/ipam/etcd_member.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "ipam/ipam.hpp"
#include "lib/store/backend.hpp"
#include "lib/store/etcd_store.hpp"

extern char** environ;

namespace weir::bench {

namespace {

namespace fs = std::filesystem;
constexpr auto kStartTimeout = std::chrono::seconds(20);
constexpr int kClaimsPerTxn = 50;

// A port nobody listens on now (the kernel's pick for port 0); -1 when that fails. Another
// process may take it before etcd binds it: start() then tries fresh ports.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  return ok ? ntohs(a.sin_port) : -1;
}

size_t append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// The body of a 200 answer to GET url; nullopt for anything else.
std::optional<std::string> http_get(const std::string& url) {
  CURL* c = curl_easy_init();
  if (c == nullptr) return std::nullopt;
  std::string body;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  long status = 0;
  const bool ok = curl_easy_perform(c) == CURLE_OK &&
                  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
                  status == 200;
  curl_easy_cleanup(c);
  if (!ok) return std::nullopt;
  return body;
}

// The value of label `name` in a Prometheus sample line: `…{a="x",grpc_method="Range",…} 5`.
std::string label(const std::string& line, const std::string& name) {
  const std::string key = name + "=\"";
  const size_t at = line.find(key);
  if (at == std::string::npos) return {};
  const size_t from = at + key.size();
  return line.substr(from, line.find('"', from) - from);
}

double sample_value(const std::string& line) {
  return std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
}

bool reap(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  const std::string text = s.str();
  return text.size() > 2000 ? "…" + text.substr(text.size() - 2000) : text;
}

}  // namespace

double EtcdServed::total() const {
  double sum = 0;
  for (const auto& [method, n] : requests) sum += n;
  return sum;
}

EtcdServed operator-(const EtcdServed& after, const EtcdServed& before) {
  EtcdServed d = after;
  for (const auto& [method, n] : before.requests) d.requests[method] -= n;
  std::erase_if(d.requests, [](const auto& kv) { return kv.second == 0; });
  d.fsyncs -= before.fsyncs;
  d.fsync_seconds -= before.fsync_seconds;
  return d;
}

std::string per_call(const EtcdServed& d, int calls) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f (", d.total() / calls);
  std::string out = buf;
  bool first = true;
  for (const auto& [method, n] : d.requests) {
    std::snprintf(buf, sizeof buf, "%s%s %.1f", first ? "" : ", ", method.c_str(), n / calls);
    out += buf;
    first = false;
  }
  std::snprintf(buf, sizeof buf, "), %.1f WAL fsyncs %.2f ms", d.fsyncs / calls,
                d.fsync_seconds * 1000 / calls);
  return out + buf;
}

std::unique_ptr<EtcdMember> EtcdMember::start(const std::string& binary, const std::string& dir) {
  if (::access(binary.c_str(), X_OK) != 0) {
    std::cerr << "etcd: " << binary << " is not an executable (apt-get install etcd-server)\n";
    return nullptr;
  }
  fs::create_directories(dir);
  std::unique_ptr<EtcdMember> m(new EtcdMember());
  m->log_ = dir + "/etcd.log";
  // A port taken between free_port() and etcd's bind makes it exit at once: fresh ports and
  // fresh data, again.
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const int client = free_port(), peer = free_port();
    if (client < 0 || peer < 0) {
      std::cerr << "etcd: no free port on 127.0.0.1\n";
      return nullptr;
    }
    m->endpoint_ = "http://127.0.0.1:" + std::to_string(client);
    const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer);
    const std::string data = dir + "/data";
    std::error_code ec;
    fs::remove_all(data, ec);
    std::vector<std::string> args = {
        binary,
        "--name=bench",
        "--data-dir=" + data,
        "--listen-client-urls=" + m->endpoint_,
        "--advertise-client-urls=" + m->endpoint_,
        "--listen-peer-urls=" + peer_url,
        "--initial-advertise-peer-urls=" + peer_url,
        "--initial-cluster=bench=" + peer_url,
        "--initial-cluster-state=new",
        // Alone, a member has nobody to hear from: a short election timeout only makes it lead
        // sooner (the default 1 s is most of a start).
        "--election-timeout=100",
        "--heartbeat-interval=20",
        "--logger=zap",
        "--log-level=warn",
        "--log-outputs=" + m->log_,
    };
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string out = dir + "/etcd.out";
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::cerr << "etcd: open " << out << " failed\n";
      return nullptr;
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec. etcd is a server like weir-agent:
      // it leaves the real-time class that run.sh gives the bench and the plugins.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      sched_param normal{};
      ::sched_setscheduler(0, SCHED_OTHER, &normal);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      const int null = ::open("/dev/null", O_RDONLY);
      if (null >= 0) ::dup2(null, 0);
      ::execve(binary.c_str(), argv.data(), environ);
      ::_exit(127);
    }
    ::close(fd);
    if (pid < 0) {
      std::cerr << "etcd: fork failed\n";
      return nullptr;
    }
    m->pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        m->pid_ = -1;
        break;
      }
      const auto health = http_get(m->endpoint_ + "/health");
      if (health && health->find("\"true\"") != std::string::npos) return m;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (m->pid_ > 0) {
      ::kill(m->pid_, SIGKILL);
      reap(m->pid_, std::chrono::seconds(60));
      m->pid_ = -1;
    }
  }
  std::cerr << "etcd (" << binary << ") did not answer: " << tail(m->log_)
            << tail(dir + "/etcd.out") << "\n";
  return nullptr;
}

EtcdMember::~EtcdMember() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!reap(pid_, std::chrono::seconds(5))) {
    ::kill(pid_, SIGKILL);
    reap(pid_, std::chrono::seconds(60));
  }
}

std::optional<EtcdServed> EtcdMember::served() const {
  const auto text = http_get(endpoint_ + "/metrics");
  if (!text) return std::nullopt;
  EtcdServed s;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("grpc_server_handled_total{")) {
      s.requests[label(line, "grpc_method")] += sample_value(line);
    } else if (line.starts_with("etcd_disk_wal_fsync_duration_seconds_count ")) {
      s.fsyncs = sample_value(line);
    } else if (line.starts_with("etcd_disk_wal_fsync_duration_seconds_sum ")) {
      s.fsync_seconds = sample_value(line);
    }
  }
  return s;
}

bool prefill_etcd(const nlohmann::json& store_object, const std::string& network,
                  const std::string& subnet, const std::string& first, int n) {
  auto backend = store::parse_backend(store_object, "store");
  if (!backend) {
    std::cerr << "prefill etcd: " << backend.error().msg << "\n";
    return false;
  }
  auto s =
      store::EtcdStore::open(backend->etcd, {.prefix = backend->prefix, .host = backend->host});
  if (!s) {
    std::cerr << "prefill etcd: " << s.error().msg << "\n";
    return false;
  }
  store::EtcdStore& db = **s;
  auto ok = ipam::sweep_after_reboot(db, {});  // this boot's id, as the first call records it
  const auto start = net::IpAddr::parse(first);
  for (int from = 0; ok && (from == 0 || from < n);
       from += kClaimsPerTxn) {  // the network even at 0
    ok = db.transact([&](store::Txn& t) -> Expected<void> {
      if (from == 0) {
        auto put = t.put_network({.name = network, .subnets = {*net::Cidr::parse(subnet)}});
        if (!put) return put;
      }
      for (int i = from; i < std::min(n, from + kClaimsPerTxn); ++i) {
        auto c = t.claim({.network = network,
                          .address = start->plus(i),
                          .container_id = "fill" + std::to_string(i),
                          .ifname = "eth0",
                          .netns = "/var/run/netns/fill" + std::to_string(i)});
        if (!c) return fail(c.error());
      }
      return {};
    });
  }
  if (ok && n > 0) {
    ok = db.transact([&](store::Txn& t) { return t.set_cursor(network, 0, start->plus(n - 1)); });
  }
  if (!ok) std::cerr << "prefill etcd: " << ok.error().msg << "\n";
  return static_cast<bool>(ok);
}

namespace {

// The held store, lent to every open_backend() of this process (set_etcd_opener takes a plain
// function, hence the global).
store::EtcdStore* g_held = nullptr;

class Lent final : public store::Store {
 public:
  Expected<void> transact(const store::TxnFn& fn) override { return g_held->transact(fn); }
  Expected<void> view(const store::TxnFn& fn) override { return g_held->view(fn); }
  std::string_view host() const override { return g_held->host(); }
};

Expected<std::unique_ptr<store::Store>> lend(const store::Backend&) {
  return std::unique_ptr<store::Store>(std::make_unique<Lent>());
}

}  // namespace

bool in_process_pairs(const nlohmann::json& store_object, const std::string& conf, int runs,
                      std::vector<std::pair<double, double>>& pairs, double& requests) {
  auto backend = store::parse_backend(store_object, "store");
  if (!backend) {
    std::cerr << "in-process: " << backend.error().msg << "\n";
    return false;
  }
  auto s =
      store::EtcdStore::open(backend->etcd, {.prefix = backend->prefix, .host = backend->host});
  if (!s) {
    std::cerr << "in-process: " << s.error().msg << "\n";
    return false;
  }
  g_held = s->get();
  store::set_etcd_opener(lend);
  const auto verbs = ipam::verbs();
  auto call = [&](const char* command, const std::string& id) {
    cni::MapEnv env({{"CNI_COMMAND", command},
                     {"CNI_CONTAINERID", id},
                     {"CNI_NETNS", "/var/run/netns/" + id},
                     {"CNI_IFNAME", "eth0"},
                     {"CNI_PATH", "/nonexistent"}},
                    conf);
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = cni::plugin_main(env, verbs, ipam::kPluginName);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (rc != 0)
      std::cerr << "in-process " << command << ": " << env.out_str() << env.err_str() << "\n";
    return rc == 0 ? ms : -1;
  };
  const uint64_t before = g_held->client().requests();
  bool ok = true;
  for (int r = 0; ok && r < runs; ++r) {
    const std::string id = "inproc-" + std::to_string(r);
    const double add = call("ADD", id);
    const double del = add < 0 ? -1 : call("DEL", id);
    ok = add >= 0 && del >= 0;
    if (ok) pairs.emplace_back(add, del);
  }
  requests = double(g_held->client().requests() - before) / std::max(1, int(pairs.size()));
  store::set_etcd_opener(nullptr);
  g_held = nullptr;
  return ok;
}

}  // namespace weir::bench
