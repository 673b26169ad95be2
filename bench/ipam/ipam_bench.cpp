// weir-ipam vs the reference host-local: ADD+DEL latency through the real binaries, with 0,
// 1,000, 10,000 and 60,000 existing leases in one /16, printed side by side. Not a test: run it
// by hand on a quiet machine (see bench/README.md). --base measures another weir-ipam (an older
// build's) exactly like --weir, in the same rounds: a "base" group and a weir/base column.
// --etcd adds a group of weir-ipam on a network whose store is etcd (one member the bench starts
// itself, etcd_member.hpp), with a p99 column for every group, the etcd requests per ADD and
// per DEL as etcd counted them (--count-calls of each), and for comparison the same pairs run
// in-process on one EtcdStore kept open.
//
//   weir-ipam-bench [--runs 50] [--slow-runs 10] [--trials 3] [--sizes 0,1000,10000,60000]
//                   [--weir build/bin/weir-ipam] [--host-local /usr/lib/cni/host-local]
//                   [--base /old/build/bin/weir-ipam] [--etcd /usr/bin/etcd] [--keep yes]
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "ipam/ipam.hpp"
#if WEIR_BENCH_ETCD
#include "bench/ipam/etcd_member.hpp"
#endif

namespace {

namespace fs = std::filesystem;
using namespace weir;

constexpr const char* kNetwork = "bench";
constexpr const char* kSubnet = "10.10.0.0/16";

struct Options {
  int runs = 50;
  int slow_runs = 10;  // host-local at 10,000 leases and more takes seconds per call
  int trials = 3;      // rounds per size; each plugin's best round is kept (the machine is shared)
  std::vector<int> sizes = {0, 1000, 10000, 60000};
  std::string weir = std::string(WEIR_BIN_DIR) + "/weir-ipam";
  std::string host_local = "/usr/lib/cni/host-local";
  std::string base;   // another weir-ipam to compare with; empty: none
  std::string etcd;   // etcd's binary: adds the etcd group; empty: none
  int count_calls = 20;  // --etcd: ADDs (then DELs) whose etcd requests are counted, per size
  bool keep = false;  // leave the filled stores behind (printed), to look at them
};

struct Sample {
  double add_ms = 0;
  double del_ms = 0;
};

struct Cell {
  double add = 0, del = 0, total = 0;  // medians
  int runs = 0;
  double mean_total = 0;  // the mean shows what a median hides: the occasional slow call
  double p99_total = 0;   // printed with --etcd (of 50 runs: the second slowest)
  double first_add = 0;   // the warm-up ADD: the first call on this store (no weir-agent yet)
};

// One size's results; base stays empty without --base, etcd without --etcd.
struct Row {
  Cell weir, base, host_local, etcd;
  Cell base_etcd;  // --base with --etcd: the base build on etcd, its own prefix
  std::string etcd_per_add, etcd_per_del;  // what etcd served per call (etcd_member.hpp)
  Cell in_process;                         // --etcd: pairs in the bench, on a held EtcdStore
  double in_process_requests = 0;
};

// Runs binary with env and stdin from a file; returns the wait status.
int spawn_wait(const std::string& binary, const std::map<std::string, std::string>& env,
               const std::string& stdin_path) {
  std::vector<std::string> vars;
  for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string path = binary;
  char* argv[] = {path.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path.c_str(), &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string config(const std::string& type, const std::string& data_dir,
                   const nlohmann::json& store = nullptr) {
  nlohmann::json j = {
      {"cniVersion", "1.0.0"},
      {"name", kNetwork},
      {"type", type},
      {"ipam", {{"type", type}, {"ranges", {{{{"subnet", kSubnet}}}}}, {"dataDir", data_dir}}}};
  if (!store.is_null()) j["store"] = store;
  return j.dump();
}

// The etcd group's store: its own prefix per size (and per build: `group`), so that each size
// starts from an empty one.
nlohmann::json etcd_store(const std::string& endpoint, int n, const std::string& group = "") {
  return {{"type", "etcd"},
          {"endpoints", {endpoint}},
          {"prefix", "/weir-bench-" + group + std::to_string(n)},
          {"timeoutMs", 2000}};
}

net::IpAddr nth_lease(int i) {
  return net::IpAddr::parse("10.10.0.2")->plus(i);
}

// weir-ipam's leases go straight into its store, as ADDs would have left them.
bool prefill_weir(const std::string& dir, int n) {
  auto db = ipam::open_store(dir);
  if (!db) {
    std::cerr << "open store: " << db.error().msg << "\n";
    return false;
  }
  auto ok = db->transact([&](store::Txn& t) -> Expected<void> {
    auto put = t.put_network({.name = kNetwork, .subnets = {*net::Cidr::parse(kSubnet)}});
    if (!put) return put;
    for (int i = 0; i < n; ++i) {
      auto c = t.claim({.network = kNetwork,
                        .address = nth_lease(i),
                        .container_id = "fill" + std::to_string(i),
                        .ifname = "eth0",
                        .netns = "/var/run/netns/fill" + std::to_string(i)});
      if (!c) return fail(c.error());
    }
    if (n > 0) return t.set_cursor(kNetwork, 0, nth_lease(n - 1));
    return {};
  });
  if (!ok) std::cerr << "prefill: " << ok.error().msg << "\n";
  return static_cast<bool>(ok);
}

// host-local's disk store: one file per address holding "id\r\nifname", and the last address
// handed out in last_reserved_ip.0.
bool prefill_host_local(const std::string& dir, int n) {
  const fs::path net = fs::path(dir) / kNetwork;
  fs::create_directories(net);
  for (int i = 0; i < n; ++i) {
    std::ofstream(net / nth_lease(i).str()) << "fill" << i << "\r\neth0";
  }
  if (n > 0) std::ofstream(net / "last_reserved_ip.0") << nth_lease(n - 1).str();
  return true;
}

// weir-agent removes its socket as it exits, which it does when it sees its folder go: a file
// can vanish under remove_all, which then stops. Go again.
void remove_tree(const fs::path& dir) {
  std::error_code ec;
  for (int i = 0; i < 5 && (fs::remove_all(dir, ec), ec); ++i) {
  }
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// One ADD then one DEL of a new container; false when either fails.
bool add_del(const std::string& binary, const std::string& conf_path, const std::string& id,
             Sample& s) {
  std::map<std::string, std::string> env = {{"CNI_CONTAINERID", id},
                                            {"CNI_NETNS", "/var/run/netns/" + id},
                                            {"CNI_IFNAME", "eth0"},
                                            {"CNI_PATH", fs::path(binary).parent_path().string()},
                                            {"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}};
  env["CNI_COMMAND"] = "ADD";
  auto t0 = std::chrono::steady_clock::now();
  const int add = spawn_wait(binary, env, conf_path);
  s.add_ms = ms_since(t0);
  env["CNI_COMMAND"] = "DEL";
  t0 = std::chrono::steady_clock::now();
  const int del = spawn_wait(binary, env, conf_path);
  s.del_ms = ms_since(t0);
  if (add == 0 && del == 0) return true;
  std::cerr << binary << ": ADD/DEL failed (status " << add << ", " << del << ")\n";
  return false;
}

Cell summarize(const std::vector<Sample>& samples) {
  auto median = [&](auto key) {
    std::vector<double> v;
    for (const auto& s : samples) v.push_back(key(s));
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  double sum = 0;
  std::vector<double> totals;
  for (const auto& s : samples) {
    sum += s.add_ms + s.del_ms;
    totals.push_back(s.add_ms + s.del_ms);
  }
  std::sort(totals.begin(), totals.end());
  return {.add = median([](const Sample& s) { return s.add_ms; }),
          .del = median([](const Sample& s) { return s.del_ms; }),
          .total = median([](const Sample& s) { return s.add_ms + s.del_ms; }),
          .runs = static_cast<int>(samples.size()),
          .mean_total = samples.empty() ? 0.0 : sum / static_cast<double>(samples.size()),
          .p99_total = totals.empty() ? 0.0 : totals[(totals.size() - 1) * 99 / 100]};
}

// The plugins take turns, so that a busy moment of the machine hits all alike.
bool measure_round(const Options& o, const fs::path& dir, int n, int round, Row& row) {
  std::vector<Sample> w, b, h, e, be;
  auto run = [&](const std::string& binary, const char* conf, const std::string& id,
                 std::vector<Sample>& out) {
    Sample s;
    if (!add_del(binary, (dir / conf).string(), id, s)) return false;
    out.push_back(s);
    return true;
  };
  struct Group {
    const std::string& binary;
    const char* conf;
    std::vector<Sample>& out;
  };
  std::vector<Group> weirs = {{o.weir, "weir.json", w}};
  if (!o.base.empty()) weirs.push_back({o.base, "base.json", b});
  if (!o.etcd.empty()) weirs.push_back({o.weir, "etcd.json", e});
  if (!o.etcd.empty() && !o.base.empty()) weirs.push_back({o.base, "base-etcd.json", be});
  const int hl_runs = n >= 10000 ? o.slow_runs : o.runs;
  for (int r = 0; r < std::max(o.runs, hl_runs); ++r) {
    const std::string id = "bench" + std::to_string(round) + "-" + std::to_string(r);
    if (r < o.runs) {
      // weir's groups take turns at going first, run by run: none always runs right after
      // host-local, whose Go process leaves the caches cold.
      for (size_t k = 0; k < weirs.size(); ++k) {
        const Group& g = weirs[(k + size_t(r)) % weirs.size()];
        if (!run(g.binary, g.conf, id, g.out)) return false;
      }
    }
    if (r < hl_runs && !run(o.host_local, "hl.json", id, h)) return false;
  }
  row.weir = summarize(w);
  row.base = summarize(b);
  row.host_local = summarize(h);
  row.etcd = summarize(e);
  row.base_etcd = summarize(be);
  return true;
}

// A warm-up pair each (page cache, first exec; weir-ipam's starts its weir-agent), then
// `trials` rounds; each plugin's best round counts.
bool measure(const Options& o, const fs::path& dir, int n, Row& row) {
  Sample warm_weir, warm_base, warm_hl, warm_etcd, warm_base_etcd;
  if (!add_del(o.weir, (dir / "weir.json").string(), "warmup", warm_weir) ||
      (!o.base.empty() && !add_del(o.base, (dir / "base.json").string(), "warmup", warm_base)) ||
      (!o.etcd.empty() && !add_del(o.weir, (dir / "etcd.json").string(), "warmup", warm_etcd)) ||
      (!o.etcd.empty() && !o.base.empty() &&
       !add_del(o.base, (dir / "base-etcd.json").string(), "warmup", warm_base_etcd)) ||
      !add_del(o.host_local, (dir / "hl.json").string(), "warmup", warm_hl)) {
    return false;
  }
  for (int t = 0; t < o.trials; ++t) {
    Row r;
    if (!measure_round(o, dir, n, t, r)) return false;
    if (t == 0 || r.weir.total < row.weir.total) row.weir = r.weir;
    if (t == 0 || r.base.total < row.base.total) row.base = r.base;
    if (t == 0 || r.etcd.total < row.etcd.total) row.etcd = r.etcd;
    if (t == 0 || r.base_etcd.total < row.base_etcd.total) row.base_etcd = r.base_etcd;
    if (t == 0 || r.host_local.total < row.host_local.total) row.host_local = r.host_local;
  }
  row.weir.first_add = warm_weir.add_ms;
  row.base.first_add = warm_base.add_ms;
  row.etcd.first_add = warm_etcd.add_ms;
  row.base_etcd.first_add = warm_base_etcd.add_ms;
  row.host_local.first_add = warm_hl.add_ms;
  return true;
}

#if WEIR_BENCH_ETCD
// The etcd requests of one ADD and of one DEL, as etcd counted them: its counters before and
// after count_calls ADDs of new containers, then after their DELs (untimed, after the rounds).
bool count_etcd_requests(const Options& o, const fs::path& dir, const bench::EtcdMember& etcd,
                         Row& row) {
  const std::string conf = (dir / "etcd.json").string();
  auto calls = [&](const char* command) {
    for (int i = 0; i < o.count_calls; ++i) {
      const std::string id = "count-" + std::to_string(i);
      std::map<std::string, std::string> env = {
          {"CNI_COMMAND", command},
          {"CNI_CONTAINERID", id},
          {"CNI_NETNS", "/var/run/netns/" + id},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", fs::path(o.weir).parent_path().string()},
          {"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}};
      if (spawn_wait(o.weir, env, conf) != 0) {
        std::cerr << o.weir << ": " << command << " on etcd failed\n";
        return false;
      }
    }
    return true;
  };
  const auto before = etcd.served();
  if (!before || !calls("ADD")) return false;
  const auto added = etcd.served();
  if (!added || !calls("DEL")) return false;
  const auto deleted = etcd.served();
  if (!deleted) return false;
  row.etcd_per_add = bench::per_call(*added - *before, o.count_calls);
  row.etcd_per_del = bench::per_call(*deleted - *added, o.count_calls);
  return true;
}

// The same calls in the bench's own process on one EtcdStore kept open (etcd_member.hpp).
bool measure_in_process(const Options& o, const fs::path& dir, const nlohmann::json& store,
                        Row& row) {
  std::ifstream in(dir / "etcd.json");
  const std::string conf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::pair<double, double>> pairs;
  if (!bench::in_process_pairs(store, conf, o.runs, pairs, row.in_process_requests)) return false;
  std::vector<Sample> samples;
  for (const auto& [add, del] : pairs) samples.push_back({add, del});
  row.in_process = summarize(samples);
  return true;
}
#endif

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--runs") {
      o.runs = std::stoi(v);
    } else if (k == "--trials") {
      o.trials = std::max(1, std::stoi(v));
    } else if (k == "--slow-runs") {
      o.slow_runs = std::stoi(v);
    } else if (k == "--weir") {
      o.weir = v;
    } else if (k == "--keep") {
      o.keep = v == "1" || v == "yes";
    } else if (k == "--host-local") {
      o.host_local = v;
    } else if (k == "--base") {
      o.base = v;
    } else if (k == "--etcd") {
      o.etcd = v;
    } else if (k == "--count-calls") {
      o.count_calls = std::max(1, std::stoi(v));
    } else if (k == "--sizes") {
      o.sizes.clear();
      for (size_t p = 0; p <= v.size();) {
        size_t c = std::min(v.find(',', p), v.size());
        o.sizes.push_back(std::stoi(v.substr(p, c - p)));
        p = c + 1;
      }
    } else {
      return false;
    }
  }
  return argc % 2 == 1;
}

// With --etcd every group gets a p99 column (etcd's tail is part of what it costs).
void print_header(const Options& o) {
  const bool with_base = !o.base.empty(), with_etcd = !o.etcd.empty();
  if (!with_etcd) {
    std::printf("%8s | %-39s | ", "leases", "weir-ipam  ADD     DEL  ADD+DEL   mean");
    if (with_base) std::printf("%-39s | ", "base       ADD     DEL  ADD+DEL   mean");
    std::printf("%-44s | %s", "host-local  ADD      DEL   ADD+DEL     mean", "host-local/weir");
    std::printf(with_base ? " | weir/base\n" : "\n");
    return;
  }
  std::printf("%8s | %-46s | ", "leases", "weir-ipam  ADD     DEL  ADD+DEL    p99   mean");
  if (with_base) std::printf("%-46s | ", "base       ADD     DEL  ADD+DEL    p99   mean");
  std::printf("%-46s | ", "etcd       ADD     DEL  ADD+DEL    p99   mean");
  if (with_base) std::printf("%-46s | ", "base etcd  ADD     DEL  ADD+DEL    p99   mean");
  std::printf("%-53s | %s", "host-local  ADD      DEL   ADD+DEL      p99     mean",
              "host-local/etcd");
  std::printf(with_base ? " | weir/base | etcd/base etcd\n" : "\n");
}

void print_row(int n, const Row& row, const Options& o) {
  const bool with_base = !o.base.empty(), with_etcd = !o.etcd.empty();
  const Cell &w = row.weir, &b = row.base, &h = row.host_local, &e = row.etcd;
  if (!with_etcd) {
    std::printf("%8d | %7.2f %7.2f %8.2f %6.2f (%2d) | ", n, w.add, w.del, w.total, w.mean_total,
                w.runs);
    if (with_base) {
      std::printf("%7.2f %7.2f %8.2f %6.2f (%2d) | ", b.add, b.del, b.total, b.mean_total, b.runs);
    }
    std::printf("%8.2f %8.2f %9.2f %8.2f (%2d) | %6.1fx", h.add, h.del, h.total, h.mean_total,
                h.runs, h.total / w.total);
  } else {
    auto cell = [](const Cell& c) {
      std::printf("%7.2f %7.2f %8.2f %6.2f %6.2f (%2d) | ", c.add, c.del, c.total, c.p99_total,
                  c.mean_total, c.runs);
    };
    std::printf("%8d | ", n);
    cell(w);
    if (with_base) cell(b);
    cell(e);
    if (with_base) cell(row.base_etcd);
    std::printf("%8.2f %8.2f %9.2f %8.2f %8.2f (%2d) | %6.1fx", h.add, h.del, h.total, h.p99_total,
                h.mean_total, h.runs, h.total / e.total);
  }
  // Two decimals: a regression of a few percent is what this column is for.
  if (with_base) std::printf("         | %8.2fx", w.total / b.total);
  if (with_base && with_etcd) std::printf(" | %13.2fx", e.total / row.base_etcd.total);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, o)) {
    std::cerr << "usage: weir-ipam-bench [--runs N] [--slow-runs N] [--trials N] [--sizes a,b,…] "
                 "[--weir PATH] [--host-local PATH] [--base PATH] [--etcd /usr/bin/etcd "
                 "[--count-calls N]] [--keep yes]\n";
    return 2;
  }
#if !WEIR_BENCH_ETCD
  if (!o.etcd.empty()) {
    std::cerr << "weir-ipam-bench: built without the etcd store (no libcurl): no --etcd\n";
    return 2;
  }
#endif
  char tmpl[] = "/tmp/weir-ipam-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const fs::path root = tmpl;
  const bool with_base = !o.base.empty(), with_etcd = !o.etcd.empty();
#if WEIR_BENCH_ETCD
  // One member for the whole run, its data next to the stores (the same disk); destroyed (and
  // so stopped) before the folder goes, also when a size fails.
  std::unique_ptr<bench::EtcdMember> etcd;
  if (with_etcd) {
    etcd = bench::EtcdMember::start(o.etcd, (root / "etcd").string());
    if (!etcd) {
      remove_tree(root);
      return 1;
    }
  }
#endif
  std::printf(
      "latency in ms: median of (runs) calls (and the mean of ADD+DEL), best of %d rounds; "
      "one %s\n",
      o.trials, kSubnet);
  if (with_etcd) {
    std::printf(
        "etcd: weir-ipam with \"store\": {\"type\": \"etcd\"}, one local member (%s): "
        "weir-ipam -> weir-agent (weir-cluster's, started by the warm-up ADD) -> etcd%s\n",
        o.etcd.c_str(),
        with_base ? "; base etcd: the base build the same way, on a prefix of its own" : "");
  }
  std::printf("\n");
  print_header(o);
  std::map<int, Row> rows;
  bool ok = true;
  for (int n : o.sizes) {
    const fs::path dir = root / std::to_string(n);
    fs::create_directories(dir / "weir");
    std::ofstream(dir / "weir.json") << config("weir-ipam", (dir / "weir").string());
    std::ofstream(dir / "hl.json") << config("host-local", (dir / "hl").string());
    ok = prefill_weir((dir / "weir").string(), n) && prefill_host_local((dir / "hl").string(), n);
    if (ok && with_base) {
      // Its own store, filled the same way: the same config but for the folder.
      fs::create_directories(dir / "base");
      std::ofstream(dir / "base.json") << config("weir-ipam", (dir / "base").string());
      ok = prefill_weir((dir / "base").string(), n);
    }
#if WEIR_BENCH_ETCD
    if (ok && with_etcd) {
      // Its data dir holds only what a host keeps locally (weir-agent's socket); the leases are
      // in etcd, under a prefix of this size's own.
      fs::create_directories(dir / "etcd");
      const auto store = etcd_store(etcd->endpoint(), n);
      std::ofstream(dir / "etcd.json") << config("weir-ipam", (dir / "etcd").string(), store);
      ok = bench::prefill_etcd(store, kNetwork, kSubnet, nth_lease(0).str(), n);
      if (ok && with_base) {
        fs::create_directories(dir / "base-etcd");
        const auto base_store = etcd_store(etcd->endpoint(), n, "base-");
        std::ofstream(dir / "base-etcd.json")
            << config("weir-ipam", (dir / "base-etcd").string(), base_store);
        ok = bench::prefill_etcd(base_store, kNetwork, kSubnet, nth_lease(0).str(), n);
      }
    }
#endif
    Row row;
    ok = ok && measure(o, dir, n, row);
#if WEIR_BENCH_ETCD
    ok = ok && (!with_etcd || (count_etcd_requests(o, dir, *etcd, row) &&
                               measure_in_process(o, dir, etcd_store(etcd->endpoint(), n), row)));
#endif
    if (!ok) break;
    print_row(n, row, o);
    std::fflush(stdout);
    rows[n] = row;
    if (!o.keep) remove_tree(dir);
  }
#if WEIR_BENCH_ETCD
  etcd.reset();
#endif
  if (o.keep) {
    std::printf("kept %s\n", root.c_str());
  } else {
    remove_tree(root);
  }
  if (!ok) return 1;
  std::printf("\n");
  if (rows.contains(0) && rows.contains(60000)) {
    std::printf("goal: weir-ipam at 60,000 leases within 1.5x of itself at 0: %.2fx\n",
                rows[60000].weir.total / rows[0].weir.total);
  }
  if (rows.contains(1000)) {
    std::printf("goal: at least 10x faster than host-local at 1,000 leases: %.1fx\n",
                rows[1000].host_local.total / rows[1000].weir.total);
  }
  if (with_etcd) {
    auto verdict = [](bool met) { return met ? "met" : "NOT met"; };
    std::printf("goal (etcd, through weir-agent):\n");
    if (rows.contains(0)) {
      std::printf("  ADD+DEL <= 4 ms median: %.2f ms at 0 leases", rows[0].etcd.total);
      if (rows.contains(10000)) std::printf(", %.2f ms at 10,000", rows[10000].etcd.total);
      const double worst = rows.contains(10000)
                               ? std::max(rows[0].etcd.total, rows[10000].etcd.total)
                               : rows[0].etcd.total;
      std::printf(": %s\n", verdict(worst <= 4.0));
    }
    if (rows.contains(0) && rows.contains(10000)) {
      const double flat = rows[10000].etcd.total / rows[0].etcd.total;
      std::printf("  flat, 10,000 leases within 1.5x of 0: %.2fx: %s\n", flat,
                  verdict(flat <= 1.5));
    }
    if (rows.contains(1000)) {
      const double x = rows[1000].host_local.total / rows[1000].etcd.total;
      std::printf("  at least 3x faster than host-local at 1,000 leases: %.1fx: %s\n", x,
                  verdict(x >= 3.0));
    }
    std::printf(
        "\netcd requests per call (etcd's grpc_server_handled_total over %d ADDs, then their "
        "DELs; WAL fsyncs and their time from etcd_disk_wal_fsync_duration_seconds):\n",
        o.count_calls);
    for (const auto& [n, row] : rows) {
      std::printf("  %6d leases: ADD %s\n  %6s         DEL %s\n", n, row.etcd_per_add.c_str(), "",
                  row.etcd_per_del.c_str());
    }
    std::printf(
        "\nin-process, the floor: ADD+DEL through weir-ipam's verbs in the bench, on one "
        "EtcdStore kept open (weir-agent's path without the front end's exec and its hop), "
        "ms:\n");
    for (const auto& [n, row] : rows) {
      const Cell& c = row.in_process;
      std::printf(
          "  %6d leases: ADD %.2f  DEL %.2f  ADD+DEL %.2f  p99 %.2f  mean %.2f (%d), "
          "%.1f requests per pair (the client's count)\n",
          n, c.add, c.del, c.total, c.p99_total, c.mean_total, c.runs, row.in_process_requests);
    }
  }
  // weir-ipam's first ADD on a store runs in weir-ipam-local and starts weir-agent, which
  // serves the calls that follow: what a call costs when no agent runs yet.
  std::printf("\nfirst ADD on each new store (one call, no weir-agent yet), ms:");
  for (const auto& [n, row] : rows) {
    std::printf("  %d leases: weir-ipam %.2f, ", n, row.weir.first_add);
    if (with_base) std::printf("base %.2f, ", row.base.first_add);
    if (with_etcd) std::printf("etcd %.2f, ", row.etcd.first_add);
    if (with_etcd && with_base) std::printf("base etcd %.2f, ", row.base_etcd.first_add);
    std::printf("host-local %.2f;", row.host_local.first_add);
  }
  std::printf("\n");
  return 0;
}
