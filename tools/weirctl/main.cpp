#include <cstdlib>

#include "tools/weirctl/weirctl.hpp"

namespace {

std::vector<std::string> split_colon(const char* v, const char* fallback) {
  std::string s = v != nullptr && *v != '\0' ? v : fallback;
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(':', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

int weirctl_main(int argc, char** argv) {
  weir::ctl::Globals g;
  g.argc = argc;
  g.argv = argv;
  g.conf_dirs = split_colon(std::getenv("NETCONFPATH"), "/etc/cni/net.d");
  g.plugin_path = split_colon(std::getenv("CNI_PATH"), "/opt/cni/bin:/usr/lib/cni");

  CLI::App app{"weirctl: run CNI networks by hand, and see what weir did"};
  app.require_subcommand(1);
  app.fallthrough();  // the global options anywhere: `weirctl ipam ls --store F` as `weirctl
                      // --store F ipam ls`
  app.set_version_flag("--version", "weirctl " WEIR_VERSION);
  app.add_flag("--json", g.json, "print JSON for scripts instead of text");
  app.add_option("--cache-dir", g.cache_dir, "where results are cached (libcni's folder)");
  app.add_option("--store", g.store_file,
                 "a JSON file with the \"store\" object to use (as /etc/weir/store.json; "
                 "default: the network's, else that file, else SQLite in the data dir)");
  int exit_code = 0;
  weir::ctl::register_verbs(app, g, exit_code);
  weir::ctl::register_status(app, g, exit_code);
  weir::ctl::register_run(app, g, exit_code);
  weir::ctl::register_ipam(app, g, exit_code);
  weir::ctl::register_dns(app, g, exit_code);
  weir::ctl::register_inspect(app, g, exit_code);
  weir::ctl::register_forget(app, g, exit_code);
  weir::ctl::register_store(app, g, exit_code);
  if (auto failed = weir::ctl::parse_command_line(app, argc, argv)) return *failed;
  return exit_code;
}
