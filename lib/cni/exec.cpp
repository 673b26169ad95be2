#include "lib/cni/exec.hpp"

#include "lib/cni/fd.hpp"
#include "lib/cni/vars.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ostream>

#include <nlohmann/json.hpp>

extern char** environ;

namespace weir::cni {

namespace {

using Fd = UniqueFd;

Expected<std::pair<Fd, Fd>> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail(sys_error(errno, "pipe", Code::kIoFailure));
  return std::pair<Fd, Fd>{Fd(fds[0]), Fd(fds[1])};
}

bool is_cni_var(const char* entry) {
  const std::string_view e(entry);
  for (std::string_view v : kCallVariables) {
    if (e.starts_with(v) && e.size() > v.size() && e[v.size()] == '=') return true;
  }
  return false;
}

std::vector<std::string> child_environment(const CallEnv& env) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!is_cni_var(*e)) out.emplace_back(*e);
  }
  std::string path;
  for (const auto& p : env.path) path += (path.empty() ? "" : ":") + p;
  out.push_back("CNI_COMMAND=" + std::string(command_name(env.command)));
  out.push_back("CNI_CONTAINERID=" + env.container_id);
  out.push_back("CNI_NETNS=" + env.netns);
  out.push_back("CNI_IFNAME=" + env.ifname);
  out.push_back("CNI_ARGS=" + env.args_raw);
  out.push_back("CNI_PATH=" + path);
  return out;
}

// Feeds stdin and drains stdout and stderr together, so that neither side blocks on a full pipe.
Expected<void> pump(Fd& in, Fd& out, Fd& err, std::string_view input, std::string& out_bytes,
                    std::ostream* err_sink) {
  size_t written = 0;
  if (input.empty()) in.reset();
  std::array<char, 16384> buf;
  while (out.get() >= 0 || err.get() >= 0) {
    pollfd fds[3];
    int n = 0;
    int in_i = -1, out_i = -1, err_i = -1;
    if (in.get() >= 0) {
      in_i = n;
      fds[n++] = {in.get(), POLLOUT, 0};
    }
    if (out.get() >= 0) {
      out_i = n;
      fds[n++] = {out.get(), POLLIN, 0};
    }
    if (err.get() >= 0) {
      err_i = n;
      fds[n++] = {err.get(), POLLIN, 0};
    }
    if (::poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      return fail(sys_error(errno, "poll plugin pipes", Code::kIoFailure));
    }
    if (in_i >= 0 && fds[in_i].revents != 0) {
      ssize_t w = ::write(in.get(), input.data() + written, input.size() - written);
      // EPIPE: the plugin exited without reading all of stdin; its exit status tells the rest.
      if (w < 0 && errno != EINTR && errno != EAGAIN) in.reset();
      if (w > 0 && (written += static_cast<size_t>(w)) == input.size()) in.reset();
    }
    for (auto [idx, fd] : {std::pair{out_i, &out}, std::pair{err_i, &err}}) {
      if (idx < 0 || fds[idx].revents == 0) continue;
      ssize_t r = ::read(fd->get(), buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        fd->reset();
        continue;
      }
      if (fd == &out) {
        out_bytes.append(buf.data(), static_cast<size_t>(r));
      } else if (err_sink != nullptr) {
        err_sink->write(buf.data(), r);
      }
    }
  }
  return {};
}

Error error_from_output(std::string_view plugin, const std::string& out, int status) {
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_object() && j.contains("code") && j["code"].is_number_integer()) {
    Error e;
    e.code = static_cast<Code>(j["code"].get<int>());
    // value() throws on a member of another type: a delegated plugin's odd output is not ours
    // to turn into 999.
    const auto text = [&](const char* key) {
      return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
    };
    e.msg = text("msg");
    e.details = text("details");
    return e;
  }
  std::string how = WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                        : "exited with status " + std::to_string(WEXITSTATUS(status));
  return make_error(Code::kPluginFailed,
                    "plugin \"" + std::string(plugin) + "\" " + how + " without an error result",
                    out.substr(0, 512));
}

}  // namespace

Expected<std::string> find_plugin(std::string_view type, const std::vector<std::string>& path) {
  if (type.empty()) return fail(invalid_config("plugin type is empty"));
  if (type.find('/') != std::string_view::npos) {
    if (type.front() == '/' && ::access(std::string(type).c_str(), X_OK) == 0) return std::string(type);
    return fail(invalid_config("plugin type \"" + std::string(type) + "\" must be a plain name"));
  }
  std::string searched;
  for (const auto& dir : path) {
    std::string candidate = dir + "/" + std::string(type);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    searched += (searched.empty() ? "" : ":") + dir;
  }
  return fail(invalid_config("plugin \"" + std::string(type) + "\" not found in CNI_PATH \"" +
                             searched + "\""));
}

Expected<ProcessOutput> run_process(const std::string& binary, std::vector<std::string> argv,
                                    std::vector<std::string> envp, std::string_view input,
                                    std::ostream* stderr_sink) {
  auto in = make_pipe();
  auto out = make_pipe();
  auto err = make_pipe();
  if (!in) return fail(in.error());
  if (!out) return fail(out.error());
  if (!err) return fail(err.error());

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in->first.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out->second.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err->second.get(), 2);
  auto pointers = [](std::vector<std::string>& strings) {
    std::vector<char*> p;
    for (auto& s : strings) p.push_back(s.data());
    p.push_back(nullptr);
    return p;
  };
  auto argv_p = pointers(argv);
  auto envp_p = pointers(envp);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv_p.data(), envp_p.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return fail(sys_error(rc, "exec \"" + binary + "\"", Code::kIoFailure));

  // Close our copies of the child's ends so that EOF arrives when it exits.
  in->first.reset();
  out->second.reset();
  err->second.reset();
  ProcessOutput result;
  Expected<void> pumped;
  {
    // A child that exits without reading its stdin must not kill us with SIGPIPE: block it in
    // this thread while writing (the write then fails with EPIPE) and drop a pending one after.
    sigset_t pipe_set, old_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    pumped = pump(in->second, out->first, err->first, input, result.out, stderr_sink);
    const timespec zero{};
    while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  }
  while (::waitpid(pid, &result.status, 0) < 0) {
    if (errno != EINTR) return fail(sys_error(errno, "wait for \"" + binary + "\"", Code::kIoFailure));
  }
  if (!pumped) return fail(pumped.error());
  return result;
}

Expected<std::string> exec_plugin(const ExecRequest& req) {
  auto binary = find_plugin(req.plugin, req.env->path);
  if (!binary) return fail(binary.error());
  auto run = run_process(*binary, {*binary}, child_environment(*req.env), req.stdin_bytes,
                         req.stderr_sink);
  if (!run) return fail(run.error());
  if (!WIFEXITED(run->status) || WEXITSTATUS(run->status) != 0) {
    return fail(error_from_output(req.plugin, run->out, run->status));
  }
  return std::move(run->out);
}

}  // namespace weir::cni
