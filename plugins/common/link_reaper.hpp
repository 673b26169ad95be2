// Deleting a link is the slowest step of a DEL: the kernel's unregister of a net device waits
// for RCU grace periods (a veth takes 15–35 ms on a 2-core VM; everything else DEL does takes a
// few). Nothing after the delete depends on it — the lease, the rules and the record are gone
// already, the caller has set the link down, and ifindexes are not reused in practice (they
// only grow until they wrap) — so DEL hands it to a child process and returns: the runtime
// gets its answer without waiting for the kernel.
//
// The child deletes the link by index (never a newer link that took its name) and exits; a
// failure goes to <data_dir>/reaper.log. While it runs it holds <data_dir>/reaper.lock shared
// (taken before the fork), so whoever must see every such delete finished — tests, the
// benchmark — takes that lock exclusive. An ADD that finds the old name still taken deletes the
// old link itself (plugins/bridge: setup_veth).
//
// A process that lives on (weir-agent, which runs DEL itself) has a ReaperThread instead: the
// same deletes, by a thread, under the same lock.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "lib/cni/error.hpp"
#include "lib/cni/fd.hpp"

namespace weir::plugins {

// Deletes link `ifindex` of the calling thread's netns in a detached child. When the child
// cannot be started, deletes it here and now.
Expected<void> delete_link_later(const std::string& data_dir, int ifindex);

// Deletes links, in the order given, on a thread of its own, started by the first delete in
// the netns of the thread that asks for it (the thread keeps that netns). It holds
// <data_dir>/reaper.lock shared from the moment a delete is handed over until none is left,
// so a waiter that takes the lock exclusive sees them all done, as with the child processes.
// Failures go to <data_dir>/reaper.log. The destructor finishes what is queued.
class ReaperThread {
 public:
  explicit ReaperThread(std::string data_dir) : data_dir_(std::move(data_dir)) {}
  ~ReaperThread();
  ReaperThread(const ReaperThread&) = delete;
  ReaperThread& operator=(const ReaperThread&) = delete;

  // Queues the delete; deletes here and now when the lock cannot be taken or no thread can
  // be started.
  Expected<void> delete_later(int ifindex);
  // Whether a delete is queued or under way.
  bool busy();

 private:
  void run();

  const std::string data_dir_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<int> queue_;
  UniqueFd lock_;      // reaper.lock, held shared while queue_ (or the delete in hand) is not empty
  bool busy_ = false;  // a delete is in hand
  bool stop_ = false;
  std::thread thread_;  // started by the first delete_later
};

}  // namespace weir::plugins
