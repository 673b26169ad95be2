// weir-dns-bench-server --zone ZONE.json [--listen ADDR:PORT]... [--threads N] [--resolv FILE]
// Serves the zone until SIGINT or SIGTERM; prints "ready ADDR:PORT" once every socket is bound
// and the workers run, and the server's counters when it stops.
#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dns/resolv.hpp"
#include "dns/server.hpp"
#include "dns/zone_json.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: weir-dns-bench-server --zone ZONE.json [--listen ADDR:PORT]... [--threads N]"
               " [--resolv RESOLV.CONF]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace weir;
  std::string zone_path;
  std::string resolv;
  std::vector<dns::SocketAddr> listen;
  unsigned threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage();
    const char* value = argv[++i];
    if (arg == "--zone") {
      zone_path = value;
    } else if (arg == "--listen") {
      auto a = dns::SocketAddr::parse(value);
      if (!a) return usage();
      listen.push_back(*a);
    } else if (arg == "--threads") {
      threads = static_cast<unsigned>(std::atoi(value));
    } else if (arg == "--resolv") {
      resolv = value;
    } else {
      return usage();
    }
  }
  if (zone_path.empty()) return usage();
  if (listen.empty()) listen.push_back(*dns::SocketAddr::parse("127.0.0.1:5300"));

  auto zone = [&]() -> weir::Expected<std::shared_ptr<const dns::Zone>> {
    auto spec = dns::read_zone_json(zone_path);
    if (!spec) return weir::fail(std::move(spec.error()));
    if (!resolv.empty()) {
      auto ups = dns::read_resolv_conf(resolv);
      if (!ups) return weir::fail(std::move(ups.error()));
      spec->options.host_upstreams = *ups;
    }
    return dns::build_zone(spec->networks, spec->endpoints, spec->options);
  }();
  if (!zone) {
    std::fprintf(stderr, "weir-dns-bench-server: %s\n", zone.error().msg.c_str());
    return 1;
  }
  // The JSON document and the build's scratch are gone: give their pages back, so that the
  // resident size is the zone's and the server's.
  malloc_trim(0);
  dns::ServerOptions options;
  options.threads = threads;
  for (const auto& a : listen) options.listeners.push_back({.address = a});
  options.log = [](dns::LogLevel, std::string_view msg) {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(msg.size()), msg.data());
  };
  auto server = dns::Server::create(std::move(options));
  if (!server) {
    std::fprintf(stderr, "weir-dns-bench-server: %s\n", server.error().msg.c_str());
    return 1;
  }
  // Block the stop signals before the workers start, so that they inherit the mask and only
  // sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  (*server)->set_zone(*zone);
  if (auto started = (*server)->start(); !started) {
    std::fprintf(stderr, "weir-dns-bench-server: %s\n", started.error().msg.c_str());
    return 1;
  }
  std::printf("ready %s names=%zu table_bytes=%zu\n", (*server)->udp_addresses()[0].str().c_str(),
              (*zone)->name_count(), (*zone)->table_bytes());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  (*server)->stop();
  const auto s = (*server)->stats();
  std::fprintf(
      stderr,
      "queries udp=%llu tcp=%llu answers=%llu nodata=%llu nxdomain=%llu refused=%llu "
      "forwarded=%llu servfail=%llu formerr=%llu dropped=%llu truncated=%llu\n",
      static_cast<unsigned long long>(s.udp_queries),
      static_cast<unsigned long long>(s.tcp_queries), static_cast<unsigned long long>(s.answers),
      static_cast<unsigned long long>(s.nodata), static_cast<unsigned long long>(s.nxdomain),
      static_cast<unsigned long long>(s.refused), static_cast<unsigned long long>(s.forwarded),
      static_cast<unsigned long long>(s.servfail), static_cast<unsigned long long>(s.formerr),
      static_cast<unsigned long long>(s.dropped), static_cast<unsigned long long>(s.truncated));
  return 0;
}
