// Undo by guard: each ADD step pushes its undo; commit() on success forgets them; otherwise the
// destructor runs them in reverse. An undo that fails is reported to the log and the rest still
// run, so one stuck step never leaves the others behind.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "lib/cni/error.hpp"

namespace weir::cni {

class Rollback {
 public:
  explicit Rollback(std::ostream* log = nullptr) : log_(log) {}
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  ~Rollback() { run(); }

  void push(std::string what, std::function<Expected<void>()> undo) {
    steps_.emplace_back(std::move(what), std::move(undo));
  }
  void commit() { steps_.clear(); }

  // Runs the undos now, newest first (also what the destructor does).
  void run() {
    while (!steps_.empty()) {
      auto [what, undo] = std::move(steps_.back());
      steps_.pop_back();
      auto ok = undo();
      if (!ok && log_ != nullptr) {
        *log_ << "rollback: " << what << ": " << ok.error().msg << "\n";
      }
    }
  }

 private:
  std::ostream* log_;
  std::vector<std::pair<std::string, std::function<Expected<void>()>>> steps_;
};

}  // namespace weir::cni
