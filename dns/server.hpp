// The DNS server: UDP and TCP sockets on the listeners, worker threads on epoll, the current
// zone snapshot, and the forwarder. Life cycle, as the agent uses it:
//
//   auto server = dns::Server::create({.listeners = {{.address = gw}}});  // binds everything
//   server.value()->set_zone(zone);   // any time, from any thread; atomic swap
//   server.value()->start();          // serves; then tell the plugins "ready"
//   ...
//   server.value()->stop();           // or the destructor
//
// A query never waits on the zone's producer: workers check one atomic counter per wake-up,
// and after a swap copy the new snapshot's pointer under a mutex held for nothing else. Malformed packets never crash the server; they are dropped or answered
// FORMERR, and reported through `log` at most a few times per second.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/sockaddr.hpp"
#include "dns/zone.hpp"
#include "lib/cni/error.hpp"

namespace weir::dns {

struct Listener {
  SocketAddr address{};  // where to bind; port 0 = a free port, the same for UDP and TCP
  bool udp = true;
  bool tcp = true;
  // Already-bound sockets to serve instead of binding `address` (the agent makes them inside
  // a container's netns for macvlan's 127.0.0.11). The Server owns them from create() on.
  int udp_fd = -1;
  int tcp_fd = -1;  // listen() is called on it
  // Set when the sockets serve one container only: its queries come from 127.0.0.1 inside
  // its netns, so the source address cannot tell who asks.
  std::string container_id{};
  bool freebind = false;  // IP_FREEBIND: bind before the address exists on a link
};

enum class LogLevel : uint8_t { kDebug, kInfo, kWarning };
using LogFn = std::function<void(LogLevel, std::string_view)>;

struct ServerOptions {
  std::vector<Listener> listeners{};
  unsigned threads = 1;                             // workers sharing every socket
  std::chrono::milliseconds forward_timeout{2500};  // per forwarded query, all upstreams
  std::chrono::milliseconds forward_attempt{800};   // before the next upstream is asked too
  // TCP (RFC 7766 6.2.3 suggests seconds): a connection is closed when no whole query came
  // for tcp_idle while nothing is owed to it, or when one message takes longer than
  // tcp_message from its first byte to its last. Trickled bytes reset neither.
  std::chrono::milliseconds tcp_idle{10000};
  std::chrono::milliseconds tcp_message{2000};
  // Connections per worker, and per source address per worker. A new connection is never
  // refused: past a limit, the least recently useful connection (its source's own first)
  // is closed to make room.
  size_t max_tcp_clients = 256;
  size_t max_tcp_per_source = 16;
  size_t max_forwards = 2048;                       // in flight per worker; more get SERVFAIL
  // Bad packets (debug) and exhausted limits (warning): a burst of 5, then at most one a
  // second. Called from the worker threads. Null: quiet.
  LogFn log{};
};

struct ServerStats {
  uint64_t udp_queries = 0;
  uint64_t tcp_queries = 0;
  uint64_t answers = 0;  // authoritative answers with records
  uint64_t nodata = 0;
  uint64_t nxdomain = 0;
  uint64_t refused = 0;
  uint64_t forwarded = 0;  // sent upstream
  uint64_t servfail = 0;   // forwarding failed (or no zone yet)
  uint64_t formerr = 0;
  uint64_t dropped = 0;    // not answered at all
  uint64_t truncated = 0;  // TC set
};

class Server {
 public:
  // Binds every listener. Success means every socket is bound (TCP listening), so the
  // caller may report readiness once start() has returned too.
  static Expected<std::unique_ptr<Server>> create(ServerOptions options);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Swaps the zone; queries already running finish on the old one. Null: SERVFAIL for all.
  void set_zone(std::shared_ptr<const Zone> zone) noexcept;
  std::shared_ptr<const Zone> zone() const noexcept;

  // Starts the worker threads.
  Expected<void> start();
  // Stops and joins the workers; idempotent. The sockets stay bound until destruction.
  void stop() noexcept;

  // The bound addresses, ports resolved, one per listener (port 0 where that side is off).
  std::vector<SocketAddr> udp_addresses() const;
  std::vector<SocketAddr> tcp_addresses() const;

  ServerStats stats() const noexcept;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weir::dns
