// The benchmark's own etcd (--etcd): one member on free 127.0.0.1 ports with its data in a
// folder of the bench's temp dir, started before the first size and stopped at the end, also
// when the bench fails (the destructor; PR_SET_PDEATHSIG when the bench dies). And what etcd
// itself says it served, read from its /metrics: the requests weir's calls cost, counted
// independently of weir's own code.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace weir::bench {

// etcd's counters at one moment.
struct EtcdServed {
  std::map<std::string, double> requests;  // gRPC method ("Range", "Txn", …) → requests handled
  double fsyncs = 0;                       // WAL fsyncs (etcd_disk_wal_fsync_duration_seconds)
  double fsync_seconds = 0;                // their total time
  double total() const;
};
EtcdServed operator-(const EtcdServed& after, const EtcdServed& before);
// "4.0 (Range 3.0, Txn 1.0)": the requests of `calls` calls, per call.
std::string per_call(const EtcdServed& d, int calls);

class EtcdMember {
 public:
  // Starts `binary` (/usr/bin/etcd) with its data in `dir` and waits (at most 20 s) until it
  // answers /health; nullptr (the reason on stderr, with the tail of its log) when it does not.
  // It runs in the normal scheduling class, as weir-agent does, also under `chrt`.
  static std::unique_ptr<EtcdMember> start(const std::string& binary, const std::string& dir);
  ~EtcdMember();  // SIGTERM, SIGKILL after 5 s; reaped
  EtcdMember(const EtcdMember&) = delete;
  EtcdMember& operator=(const EtcdMember&) = delete;

  const std::string& endpoint() const { return endpoint_; }  // "http://127.0.0.1:PORT"
  std::optional<EtcdServed> served() const;                  // nullopt when /metrics fails

 private:
  EtcdMember() = default;
  std::string endpoint_, log_;
  pid_t pid_ = -1;
};

// Writes n leases of `network` (the addresses from `first` on, container "fill<i>", a netns that
// does not exist) into the etcd store that `store` (a network config's "store" object) names,
// as n ADDs on this host would have left them: the network record, this boot's id (else the
// first call's reboot sweep would release them all, their netns being gone) and the cursor
// after the last one. Through weir's EtcdStore, in transactions of 50 claims (etcd takes 128
// operations per txn; a claim writes two keys). false (the reason on stderr) on failure.
bool prefill_etcd(const nlohmann::json& store, const std::string& network,
                  const std::string& subnet, const std::string& first, int n);

// ADD+DEL pairs in this process, through weir-ipam's verbs (plugin_main on a MapEnv with
// `conf`), on ONE EtcdStore opened before the first and kept open: no process start, no new
// connection, no layout check per call. What a process that holds the store (weir-agent, once it
// runs etcd calls) would pay per pair before its front-end hop; not a path that exists today.
// Fills `pairs` with (ADD ms, DEL ms) and `requests` with the client's requests per pair
// (etcd::Client::requests()); false (the reason on stderr) on failure.
bool in_process_pairs(const nlohmann::json& store, const std::string& conf, int runs,
                      std::vector<std::pair<double, double>>& pairs, double& requests);

}  // namespace weir::bench
