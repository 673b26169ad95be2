// Helpers of the weir-ipam + weir-agent tests (ipam_agent_test, ipam_agent_netns_test).
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/client/control.hpp"

namespace weir::test {

using Clock = std::chrono::steady_clock;

// Polls pred until it holds or the time is up; returns its last answer.
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

inline std::string ipam_conf(const std::string& dir, const std::string& subnet = "10.70.0.0/24") {
  return nlohmann::json{
      {"cniVersion", "1.0.0"},
      {"name", "agentnet"},
      {"type", "weir-ipam"},
      {"ipam", {{"type", "weir-ipam"}, {"ranges", {{{{"subnet", subnet}}}}}, {"dataDir", dir}}}}
      .dump();
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// How many agents have said they listen, in a data dir's agent.log.
inline int agents_serving(const std::string& dir) {
  const std::string log = read_file(dir + "/agent.log");
  int n = 0;
  for (size_t at = log.find("serving (pid"); at != std::string::npos;
       at = log.find("serving (pid", at + 1)) {
    ++n;
  }
  return n;
}

// Whether the process has exited (a zombie, when its parent is no reaping init, counts).
inline bool exited(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  return stat.empty() || stat.find(") Z ") != std::string::npos;
}

// Kills the data dir's agents when the test ends, whatever happened: the one holding the lock,
// and any other that said it was serving (a stopped agent would not see its folder go).
struct AgentReaper {
  std::string dir;
  ~AgentReaper() {
    std::vector<pid_t> pids;
    if (auto pid = agent::running_agent(dir)) pids.push_back(*pid);
    const std::string log = read_file(dir + "/agent.log");
    for (size_t at = log.find("serving (pid "); at != std::string::npos;
         at = log.find("serving (pid ", at + 1)) {
      pids.push_back(static_cast<pid_t>(std::atol(log.c_str() + at + 13)));
    }
    for (pid_t pid : pids) {
      if (pid <= 0 || read_file("/proc/" + std::to_string(pid) + "/comm") != "weir-agent\n") {
        continue;
      }
      ::kill(pid, SIGCONT);
      ::kill(pid, SIGKILL);
    }
  }
};

}  // namespace weir::test
