#include "tests/support/etcd_fixture.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/process.hpp"

extern char** environ;

namespace weir::test {

namespace {

constexpr const char* kEtcd = "/usr/bin/etcd";
constexpr const char* kEtcdctl = "/usr/bin/etcdctl";
constexpr const char* kOpenssl = "/usr/bin/openssl";
constexpr auto kStartTimeout = std::chrono::seconds(20);

// A port nobody listens on now (the kernel's pick for port 0). Another process could take it
// before etcd binds it; the constructor then tries fresh ports.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind 127.0.0.1:0 failed");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// Whether something accepts connections on the port of "http(s)://127.0.0.1:<port>".
bool listening(const std::string& url) {
  const int port = std::atoi(url.c_str() + url.rfind(':') + 1);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

void run_or_throw(const std::string& binary, const std::vector<std::string>& args) {
  auto r = run_cmd(binary, args);
  if (r.exit_code != 0) {
    std::string line = binary;
    for (const auto& a : args) line += " " + a;
    throw std::runtime_error(line + " failed (" + std::to_string(r.exit_code) + "): " + r.err);
  }
}

// Waits for pid to exit for at most `timeout`; true when it was reaped.
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

}  // namespace

bool EtcdCluster::available() {
  return ::access(kEtcd, X_OK) == 0 && ::access(kEtcdctl, X_OK) == 0;
}

EtcdCluster::EtcdCluster(EtcdClusterOptions options) : options_(options) {
  if (options_.members < 1) throw std::runtime_error("EtcdCluster: members < 1");
  if (options_.tls) make_certs();
  members_.resize(size_t(options_.members));
  for (int i = 0; i < size(); ++i) members_[size_t(i)].name = "m" + std::to_string(i);
  // A port taken between free_port() and etcd's bind makes a member exit at once: fresh
  // ports, fresh data, again.
  for (int attempt = 1;; ++attempt) {
    pick_ports();
    for (int i = 0; i < size(); ++i) launch(i);
    try {
      for (int i = 0; i < size(); ++i) wait_ready(i);
      return;
    } catch (const std::runtime_error&) {
      for (int i = 0; i < size(); ++i) kill(i);
      if (attempt == 3) throw;
      for (int i = 0; i < size(); ++i) {
        std::error_code ec;
        std::filesystem::remove_all(dir_ / (members_[size_t(i)].name + ".etcd"), ec);
      }
    }
  }
}

// SIGTERM to every member at once, a second to go, then SIGKILL: the data goes with the
// folder, and a member whose peers are gone can take many seconds to stop on its own.
EtcdCluster::~EtcdCluster() {
  for (const auto& m : members_) {
    if (m.pid > 0) ::kill(m.pid, SIGTERM);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (auto& m : members_) {
    if (m.pid <= 0) continue;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!reap(m.pid, std::max(left, std::chrono::milliseconds(0)))) {
      ::kill(m.pid, SIGKILL);
      reap(m.pid, std::chrono::seconds(60));
    }
    m.pid = -1;
  }
}

void EtcdCluster::pick_ports() {
  const std::string scheme = options_.tls ? "https://" : "http://";
  for (auto& m : members_) {
    m.client_url = scheme + "127.0.0.1:" + std::to_string(free_port());
    m.peer_url = "http://127.0.0.1:" + std::to_string(free_port());
  }
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> e;
  for (const auto& m : members_) e.push_back(m.client_url);
  return e;
}

const std::string& EtcdCluster::endpoint(int member) const {
  return members_.at(size_t(member)).client_url;
}

bool EtcdCluster::running(int member) const {
  return members_.at(size_t(member)).pid > 0;
}

void EtcdCluster::launch(int member) {
  Member& m = members_.at(size_t(member));
  std::string initial;
  for (const auto& other : members_) {
    initial += (initial.empty() ? "" : ",") + other.name + "=" + other.peer_url;
  }
  std::vector<std::string> args = {
      kEtcd,
      "--name=" + m.name,
      "--data-dir=" + (dir_ / (m.name + ".etcd")),
      "--listen-client-urls=" + m.client_url,
      "--advertise-client-urls=" + m.client_url,
      "--listen-peer-urls=" + m.peer_url,
      "--initial-advertise-peer-urls=" + m.peer_url,
      "--initial-cluster=" + initial,
      "--initial-cluster-state=new",
      "--initial-cluster-token=weirt-" + std::to_string(::getpid()),
      "--logger=zap",
      "--log-level=error",
      "--log-outputs=" + (dir_ / (m.name + ".log")),
  };
  if (size() == 1) {
    // Alone, a member has nobody to hear from: a short election timeout only makes it lead
    // sooner (its default 1 s is most of a start). A cluster keeps the defaults, which a busy
    // test machine does not mistake for a dead leader.
    args.push_back("--heartbeat-interval=10");
    args.push_back("--election-timeout=100");
  }
  if (options_.tls) {
    args.push_back("--cert-file=" + server_cert_);
    args.push_back("--key-file=" + server_key_);
    args.push_back("--trusted-ca-file=" + tls_.ca);
    args.push_back("--client-cert-auth=true");
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out = dir_ / (m.name + ".out");
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + out + " failed");
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::execve(kEtcd, argv.data(), environ);
    ::_exit(127);
  }
  ::close(fd);
  if (pid < 0) throw std::runtime_error("fork failed");
  m.pid = pid;
}

void EtcdCluster::wait_ready(int member) {
  Member& m = members_.at(size_t(member));
  std::vector<std::string> args = {"--endpoints=" + m.client_url, "--dial-timeout=1s",
                                   "--command-timeout=1s"};
  for (auto& f : tls_flags()) args.push_back(f);
  args.push_back("endpoint");
  args.push_back("health");
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  for (;;) {
    for (int i = 0; i < size(); ++i) {  // a member that exits (a port taken) fails the start
      Member& any = members_[size_t(i)];
      int status = 0;
      if (any.pid > 0 && ::waitpid(any.pid, &status, WNOHANG) == any.pid) {
        any.pid = -1;
        throw std::runtime_error("etcd member " + any.name + " exited: " + log_tail(i));
      }
    }
    // etcdctl's gRPC dial retries a refused port until its dial timeout: ask it only once the
    // member listens.
    if (listening(m.client_url) && run_cmd(kEtcdctl, args, {{"ETCDCTL_API", "3"}}).exit_code == 0) {
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("etcd member " + m.name + " did not answer on " + m.client_url +
                               ": " + log_tail(member));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void EtcdCluster::stop(int member) {
  Member& m = members_.at(size_t(member));
  if (m.pid <= 0) return;
  ::kill(m.pid, SIGTERM);
  if (!reap(m.pid, std::chrono::seconds(5))) {
    ::kill(m.pid, SIGKILL);
    reap(m.pid, std::chrono::seconds(60));
  }
  m.pid = -1;
}

void EtcdCluster::kill(int member) {
  Member& m = members_.at(size_t(member));
  if (m.pid <= 0) return;
  ::kill(m.pid, SIGKILL);
  reap(m.pid, std::chrono::seconds(60));
  m.pid = -1;
}

void EtcdCluster::start(int member) {
  if (running(member)) return;
  launch(member);
  wait_ready(member);
}

std::vector<std::string> EtcdCluster::tls_flags() const {
  if (!options_.tls) return {};
  return {"--cacert=" + tls_.ca, "--cert=" + tls_.cert, "--key=" + tls_.key};
}

std::string EtcdCluster::etcdctl(const std::vector<std::string>& args) const {
  std::string endpoints;
  for (const auto& m : members_) {
    if (m.pid > 0) endpoints += (endpoints.empty() ? "" : ",") + m.client_url;
  }
  std::vector<std::string> all = {"--endpoints=" + endpoints, "--dial-timeout=2s",
                                  "--command-timeout=5s"};
  for (auto& f : tls_flags()) all.push_back(f);
  all.insert(all.end(), args.begin(), args.end());
  auto r = run_cmd(kEtcdctl, all, {{"ETCDCTL_API", "3"}});
  if (r.exit_code != 0) {
    throw std::runtime_error("etcdctl failed (" + std::to_string(r.exit_code) + "): " + r.err);
  }
  return r.out;
}

std::string EtcdCluster::log_tail(int member) const {
  std::string text;
  for (const char* ext : {".log", ".out"}) {
    std::ifstream in(dir_ / (members_.at(size_t(member)).name + ext));
    std::stringstream s;
    s << in.rdbuf();
    text += s.str();
  }
  return text.size() > 2000 ? "…" + text.substr(text.size() - 2000) : text;
}

// A CA, the members' certificate for 127.0.0.1 and a client certificate signed by it, and a
// second CA that signed neither (EC P-256: quick to make).
void EtcdCluster::make_certs() {
  if (::access(kOpenssl, X_OK) != 0) throw std::runtime_error("no /usr/bin/openssl for TLS");
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                       "-nodes"};
  auto ca = [&](const std::string& name) {
    std::vector<std::string> a = {"req", "-x509"};
    a.insert(a.end(), ec.begin(), ec.end());
    a.insert(a.end(), {"-keyout", dir_ / (name + "-key.pem"), "-out", dir_ / (name + ".pem"),
                       "-days", "2", "-subj", "/CN=weir-test-" + name});
    run_or_throw(kOpenssl, a);
  };
  auto signed_cert = [&](const std::string& name, const std::string& ext) {
    std::ofstream(dir_ / (name + ".ext")) << ext;
    std::vector<std::string> a = {"req"};
    a.insert(a.end(), ec.begin(), ec.end());
    a.insert(a.end(), {"-keyout", dir_ / (name + "-key.pem"), "-out", dir_ / (name + ".csr"),
                       "-subj", "/CN=weir-test-" + name});
    run_or_throw(kOpenssl, a);
    run_or_throw(kOpenssl,
                 {"x509", "-req", "-in", dir_ / (name + ".csr"), "-CA", dir_ / "ca.pem", "-CAkey",
                  dir_ / "ca-key.pem", "-CAcreateserial", "-out", dir_ / (name + ".pem"), "-days",
                  "2", "-extfile", dir_ / (name + ".ext")});
  };
  ca("ca");
  ca("other-ca");
  signed_cert("server",
              "subjectAltName=IP:127.0.0.1\nkeyUsage=digitalSignature\n"
              "extendedKeyUsage=serverAuth,clientAuth\n");
  signed_cert("client", "keyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n");
  tls_ = {.ca = dir_ / "ca.pem",
          .cert = dir_ / "client.pem",
          .key = dir_ / "client-key.pem",
          .other_ca = dir_ / "other-ca.pem"};
  server_cert_ = dir_ / "server.pem";
  server_key_ = dir_ / "server-key.pem";
}

}  // namespace weir::test
