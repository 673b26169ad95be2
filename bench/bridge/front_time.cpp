// front-time: times builds of a front end (weir-bridge, weir-ipam) side by side, spawn to reap,
// for calls that need no network namespace. Each round runs every step for every build, in
// turn; round i starts with build i mod (number of builds), so machine noise hits all alike.
//
//   front-time --runs N --bin NAME DIR [--bin ...] --step NAME PROGRAM STDIN_FILE K=V... \;
//              [--step ...]
//
// A step execs DIR/PROGRAM with exactly the K=V environment (values may say {bin}: the build's
// NAME, so that each build's ADD names a container of its own) and STDIN_FILE on stdin, output
// to /dev/null. Every build must exit as the first run of that step did, or front-time fails.
// Prints one line per step and build: median, p90 and mean in microseconds, and the median CPU
// time of the process (user + system, from wait4: exec included), which a loaded machine
// inflates less than the wall clock.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
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

struct Bin {
  std::string name, dir;
};
struct Step {
  std::string name, program, stdin_file;
  std::vector<std::string> env;
  int expected = -1;  // exit code of its first run
};

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// Spawn to reap, in microseconds; the exit code in *code (128+signal when killed), its CPU time
// in *cpu_us.
long run_once(const Bin& bin, const Step& step, int* code, long* cpu_us) {
  const std::string path = bin.dir + "/" + step.program;
  std::vector<std::string> env;
  for (const auto& e : step.env) env.push_back(replace_all(e, "{bin}", bin.name));
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = path;
  char* argv[] = {arg0.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, step.stdin_file.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid;
  if (int e = posix_spawn(&pid, path.c_str(), &fa, nullptr, argv, envp.data()); e != 0) {
    std::fprintf(stderr, "front-time: spawn %s: %s\n", path.c_str(), std::strerror(e));
    std::exit(1);
  }
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0) {
  }
  const auto end = std::chrono::steady_clock::now();
  posix_spawn_file_actions_destroy(&fa);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  *cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000 + ru.ru_utime.tv_usec +
            ru.ru_stime.tv_usec;
  return std::chrono::duration_cast<std::chrono::microseconds>(end - start).count();
}

long at(std::vector<long> v, double p) {  // nearest rank
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size()) + 0.999999);
  if (i < 1) i = 1;
  return v[std::min(i, v.size()) - 1];
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 300;
  std::vector<Bin> bins;
  std::vector<Step> steps;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (a == "--bin" && i + 2 < argc) {
      bins.push_back({argv[i + 1], argv[i + 2]});
      i += 2;
    } else if (a == "--step" && i + 3 < argc) {
      Step s{argv[i + 1], argv[i + 2], argv[i + 3], {}};
      for (i += 4; i < argc && std::strcmp(argv[i], ";") != 0; ++i) s.env.push_back(argv[i]);
      steps.push_back(s);
    } else {
      std::fprintf(stderr, "front-time: unknown or incomplete argument %s\n", a.c_str());
      return 2;
    }
  }
  if (bins.empty() || steps.empty() || runs < 1) {
    std::fprintf(
        stderr,
        "usage: front-time --runs N --bin NAME DIR... --step NAME PROGRAM STDIN K=V... ';'...\n");
    return 2;
  }
  // times[step][bin], cpu[step][bin]
  std::vector<std::vector<std::vector<long>>> times(steps.size(),
                                                    std::vector<std::vector<long>>(bins.size()));
  auto cpu = times;
  for (int r = 0; r < runs; ++r) {
    for (size_t k = 0; k < bins.size(); ++k) {
      const size_t b = (k + static_cast<size_t>(r)) % bins.size();
      for (size_t s = 0; s < steps.size(); ++s) {
        int code = 0;
        long cpu_us = 0;
        const long us = run_once(bins[b], steps[s], &code, &cpu_us);
        if (steps[s].expected < 0) steps[s].expected = code;
        if (code != steps[s].expected) {
          std::fprintf(stderr, "front-time: %s of %s exited %d, its first run %d\n",
                       steps[s].name.c_str(), bins[b].name.c_str(), code, steps[s].expected);
          return 1;
        }
        times[s][b].push_back(us);
        cpu[s][b].push_back(cpu_us);
      }
    }
  }
  std::printf("%-12s %-10s %8s %8s %8s %8s   (µs, spawn to reap; CPU: user+sys; %d runs each)\n",
              "step", "build", "p50", "p90", "mean", "CPU p50", runs);
  for (size_t s = 0; s < steps.size(); ++s) {
    for (size_t b = 0; b < bins.size(); ++b) {
      const auto& v = times[s][b];
      long sum = 0;
      for (long x : v) sum += x;
      std::printf("%-12s %-10s %8ld %8ld %8ld %8ld   exit %d\n", steps[s].name.c_str(),
                  bins[b].name.c_str(), at(v, 0.5), at(v, 0.9), sum / static_cast<long>(v.size()),
                  at(cpu[s][b], 0.5), steps[s].expected);
    }
  }
  return 0;
}
