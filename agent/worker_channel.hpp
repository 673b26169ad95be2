// The channel between weir-agent's supervisor and its worker (agent.hpp): a SOCK_SEQPACKET
// socket pair, one message per packet.
//   worker → supervisor: "ready" or "ready error <code> <why>" once its first sync is done (the
//   first worker's is what the plugin that started the agent is told), or "fail <why>" when it
//   cannot serve.
//   supervisor → worker: after "ready", the listening control socket (SCM_RIGHTS), once. The
//   worker accepts from it itself: the supervisor is not in the path of a call. It keeps the
//   socket open as well, so the connections queued on it outlive a worker that dies.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lib/cni/fd.hpp"

namespace weir::agent::channel {

inline constexpr std::string_view kReady = "ready";
inline constexpr std::string_view kFail = "fail ";

// Both ends, close-on-exec; invalid Fds when the pair cannot be made.
struct Pair {
  UniqueFd supervisor;
  UniqueFd worker;
};
Pair make_pair();

bool send_message(int channel, std::string_view text);
// The next message: nullopt when the other end has closed (or, with wait false, when none is
// there yet: `closed` tells the two apart).
std::optional<std::string> receive_message(int channel, bool wait, bool* closed = nullptr);

bool send_fd(int channel, int fd);
// The descriptor sent (an invalid Fd when it could not be received: no descriptor left);
// nullopt when the supervisor has closed the channel.
std::optional<UniqueFd> receive_fd(int channel);

}  // namespace weir::agent::channel
