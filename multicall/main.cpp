// weir: one executable for weir's plugins, weir-agent and weirctl, installed under each of their
// names (hard links to one file). It runs the program its name says, basename(argv[0]), as a
// runtime execs a plugin; or, called as itself, the one its first argument names
// (`weir weirctl ls`). One copy of libstdc++, SQLite and libnl instead of one per program.
#include <cstdio>
#include <string_view>

// Each program's main, in its own folder's main.cpp.
int weir_agent_main(int argc, char** argv);
int weir_bridge_local_main(int argc, char** argv);
int weir_host_main(int argc, char** argv);
int weir_ipam_local_main(int argc, char** argv);
int weir_macvlan_main(int argc, char** argv);
int weir_none_main(int argc, char** argv);
int weirctl_main(int argc, char** argv);

namespace {

struct Program {
  std::string_view name;
  int (*main)(int argc, char** argv);
};

// Keep in step with multicall/CMakeLists.txt, which makes a link per name.
constexpr Program kPrograms[] = {
    {"weir-agent", weir_agent_main},     {"weir-bridge-local", weir_bridge_local_main},
    {"weir-host", weir_host_main},       {"weir-ipam-local", weir_ipam_local_main},
    {"weir-macvlan", weir_macvlan_main}, {"weir-none", weir_none_main},
    {"weirctl", weirctl_main},
};

const Program* find(std::string_view name) {
  for (const Program& p : kPrograms) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string_view base_name(const char* path) {
  std::string_view p = path != nullptr ? path : "";
  const size_t slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

int usage(std::FILE* out, int code) {
  std::fputs(
      "usage: weir PROGRAM [ARGS...], or run as PROGRAM (a link to this file named so)\n"
      "programs:",
      out);
  for (const Program& p : kPrograms) std::fprintf(out, " %.*s", int(p.name.size()), p.name.data());
  std::fputc('\n', out);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  if (const Program* p = find(base_name(argc > 0 ? argv[0] : nullptr))) return p->main(argc, argv);
  if (argc > 1) {
    if (const Program* p = find(argv[1])) return p->main(argc - 1, argv + 1);
    const std::string_view arg = argv[1];
    if (arg == "--help" || arg == "-h") return usage(stdout, 0);
  }
  return usage(stderr, 2);
}
