// A throw-away etcd for tests (/usr/bin/etcd, Debian's etcd-server): one member or a cluster of
// several on 127.0.0.1, on free ports, with its data under a TempDir, optionally with TLS.
//
//   if (!EtcdCluster::available()) GTEST_SKIP() << "no etcd";   // or WEIR_REQUIRE_ETCD()
//   EtcdCluster etcd({.members = 3});        // started; every member answers
//   etcd.endpoints();                        // {"http://127.0.0.1:41234", …}
//   etcd.kill(0); etcd.start(0);             // SIGKILL a member; start it again (same dir, ports)
//   etcd.stop(0);                            // SIGTERM (SIGKILL after 5 s)
//   etcd.etcdctl({"compact", "5"});          // etcdctl against the running members
//   EtcdCluster tls({.tls = true});          // https:// endpoints, client certificates required;
//   tls.tls().ca / .cert / .key / .other_ca  //   the files a client uses (other_ca: a CA that
//                                            //   did not sign the server's certificate)
//
// Nothing is shared with a system etcd (its 2379/2380 are never used). The members get SIGKILL
// when the test process dies (PR_SET_PDEATHSIG); the destructor stops them and removes their
// data, also when the test failed. The constructor and start() throw std::runtime_error (with the
// tail of the member's log) when a member does not answer within 20 s.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/tempdir.hpp"

namespace weir::test {

struct EtcdClusterOptions {
  int members = 1;
  bool tls = false;  // client URLs https:// with --client-cert-auth (peers stay http://)
};

struct EtcdTlsFiles {
  std::string ca;        // the CA that signed the server and client certificates
  std::string cert;      // a client certificate (CN weir-test-client)
  std::string key;       // its key
  std::string other_ca;  // a CA that signed nothing here
};

class EtcdCluster {
 public:
  // Whether /usr/bin/etcd and /usr/bin/etcdctl are installed.
  static bool available();

  explicit EtcdCluster(EtcdClusterOptions options = {});
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return int(members_.size()); }
  std::vector<std::string> endpoints() const;  // client URLs of every member, running or not
  const std::string& endpoint(int member) const;
  bool running(int member) const;

  void stop(int member);   // SIGTERM, then SIGKILL after 5 s; reaped
  void kill(int member);   // SIGKILL; reaped
  void start(int member);  // a stopped member again, on its data dir and ports; waits for it

  const EtcdTlsFiles& tls() const { return tls_; }  // empty without options.tls
  const std::string& dir() const { return dir_.path(); }

  // Runs etcdctl with --endpoints of the running members (and the client TLS files); returns
  // its stdout, throws std::runtime_error when it fails.
  std::string etcdctl(const std::vector<std::string>& args) const;

 private:
  struct Member {
    std::string name;
    std::string client_url;
    std::string peer_url;
    pid_t pid = -1;
  };
  void pick_ports();
  void launch(int member);
  void wait_ready(int member);
  void make_certs();
  std::vector<std::string> tls_flags() const;
  std::string log_tail(int member) const;

  EtcdClusterOptions options_;
  TempDir dir_{"weir-etcd"};
  std::vector<Member> members_;
  EtcdTlsFiles tls_;
  std::string server_cert_, server_key_;
};

}  // namespace weir::test

#define WEIR_REQUIRE_ETCD()                                                               \
  do {                                                                                    \
    if (!::weir::test::EtcdCluster::available()) GTEST_SKIP() << "etcd is not installed"; \
  } while (0)
