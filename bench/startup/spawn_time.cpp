// spawn-time: exec-to-exit time of CNI plugin binaries, side by side. Each round runs every
// binary once (the order rotating round by round, so machine noise hits all alike) the way a
// runtime calls a plugin: posix_spawn with CNI_* in the environment, the config on stdin (a
// file), stdout to /dev/null, then waitpid. Prints median, p90 and mean per binary, in µs.
//
//   spawn-time --count N --conf FILE [--env K=V ...] LABEL=PATH [LABEL=PATH ...]
//
// A call that exits non-zero aborts the run: the numbers are of calls that did their work.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Binary {
  std::string label, path;
  std::vector<double> us;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: spawn-time --count N --conf FILE [--env K=V ...] LABEL=PATH ...\n");
  std::exit(2);
}

double spawn_once(const Binary& b, const std::string& conf, std::vector<char*>& envp) {
  const int in = ::open(conf.c_str(), O_RDONLY | O_CLOEXEC);
  const int out = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (in < 0 || out < 0) {
    std::perror("open");
    std::exit(1);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  char* argv[] = {const_cast<char*>(b.path.c_str()), nullptr};
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, b.path.c_str(), &fa, nullptr, argv, envp.data());
  int status = 0;
  if (rc == 0) {
    while (::waitpid(pid, &status, 0) < 0) {
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  posix_spawn_file_actions_destroy(&fa);
  ::close(in);
  ::close(out);
  if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "spawn-time: %s failed (spawn %d, status %d)\n", b.path.c_str(), rc,
                 status);
    std::exit(1);
  }
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  int count = 0;
  std::string conf;
  std::vector<std::string> env;
  std::vector<Binary> bins;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--count" && i + 1 < argc) {
      count = std::atoi(argv[++i]);
    } else if (a == "--conf" && i + 1 < argc) {
      conf = argv[++i];
    } else if (a == "--env" && i + 1 < argc) {
      env.emplace_back(argv[++i]);
    } else if (const size_t eq = a.find('='); eq != std::string::npos && eq > 0) {
      bins.push_back({a.substr(0, eq), a.substr(eq + 1), {}});
    } else {
      usage();
    }
  }
  if (count <= 0 || conf.empty() || bins.empty()) usage();
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  for (auto& b : bins) spawn_once(b, conf, envp);  // warm the page cache, untimed
  for (int round = 0; round < count; ++round) {
    for (size_t k = 0; k < bins.size(); ++k) {
      Binary& b = bins[(k + static_cast<size_t>(round)) % bins.size()];
      b.us.push_back(spawn_once(b, conf, envp));
    }
  }
  std::printf("%-28s %8s %8s %8s  (µs, %d execs each)\n", "binary", "median", "p90", "mean",
              count);
  for (const auto& b : bins) {
    double sum = 0;
    for (double x : b.us) sum += x;
    std::printf("%-28s %8.0f %8.0f %8.0f\n", b.label.c_str(), percentile(b.us, 0.5),
                percentile(b.us, 0.9), sum / static_cast<double>(b.us.size()));
  }
  return 0;
}
