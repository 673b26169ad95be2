// The command line's own errors, said for a person: CLI11 reports `weirctl ad` as "A subcommand
// is required"; we name the word it did not know, list the commands at that level, and guess
// the one meant (as git and cargo do).
#include <algorithm>
#include <iostream>

#include "tools/weirctl/weirctl.hpp"

namespace weir::ctl {

namespace {

// Optimal string alignment distance: Levenshtein plus a swap of two neighbours ("chekc").
size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The command meant by `word`: the only one it starts, else the closest within a third of its
// length (at least one edit); "" when none is close.
std::string closest(std::string_view word, const std::vector<std::string>& names) {
  std::vector<std::string> prefixed;
  for (const auto& n : names) {
    if (n.starts_with(word)) prefixed.push_back(n);
  }
  if (prefixed.size() == 1) return prefixed.front();
  std::string best;
  size_t best_d = std::max<size_t>(1, word.size() / 3) + 1;
  for (const auto& n : names) {
    const size_t d = distance(word, n);
    if (d < best_d) {
      best_d = d;
      best = n;
    }
  }
  return best;
}

std::vector<std::string> command_names(CLI::App& app) {
  std::vector<std::string> out;
  for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    out.push_back(sub->get_name());
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    // The deepest command given, and the words nobody took.
    CLI::App* at = &app;
    std::string path;
    while (!at->get_subcommands().empty()) {
      at = at->get_subcommands().front();
      path += at->get_name() + " ";
    }
    const auto names = command_names(*at);
    if (names.empty() || e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app.exit(e);
    }
    std::string word;
    for (const auto& w : app.remaining(true)) {
      if (!w.starts_with("-")) {
        word = w;
        break;
      }
    }
    if (word.empty()) {
      std::cerr << "weirctl: " << path << "needs a command: " << join(names) << "\n";
    } else {
      std::cerr << "weirctl: unknown command \"" << path << word << "\"";
      if (auto guess = closest(word, names); !guess.empty()) {
        std::cerr << ": did you mean \"" << guess << "\"?";
      }
      std::cerr << "\n  commands: " << join(names) << "\n";
    }
    std::cerr << "  see: weirctl " << path << "--help\n";
    return 2;
  }
}

}  // namespace weir::ctl
