#include "agent/dns_service.hpp"

#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "agent/log.hpp"
#include "dns/records.hpp"
#include "dns/resolv.hpp"
#include "lib/cni/fd.hpp"
#include "lib/netns/netns.hpp"

namespace weir::agent {

namespace {

using Fd = UniqueFd;

// A socket bound to 127.0.0.11:port in the calling thread's netns (a container's).
Expected<Fd> bound_socket(int type, const net::IpAddr& ip, uint16_t port) {
  Fd fd(::socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return fail(cni::sys_error(errno, "socket"));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // The container's loopback may still be down when we bind.
  ::setsockopt(fd.get(), IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  std::memcpy(&sa.sin_addr, ip.data(), 4);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return fail(cni::sys_error(errno, "bind " + ip.str() + ":" + std::to_string(port)));
  }
  return fd;
}

// Where each network's members' queries arrive (zone.hpp): the index of its bridge now. A
// network served on a gateway whose bridge is not found gets link 0, on which no datagram
// arrives: it answers no UDP query until a sync finds the bridge again (the ADD that makes it
// again syncs). A bridge made again under a new index is found by the sync of that ADD.
void resolve_links(dns::Plan& plan) {
  for (auto& n : plan.networks) {
    n.links.clear();
    if (auto it = plan.bridges.find(n.name); it != plan.bridges.end()) {
      for (const auto& name : it->second) {
        if (const unsigned index = ::if_nametoindex(name.c_str()); index != 0)
          n.links.push_back(static_cast<int>(index));
      }
    }
    if (n.links.empty() && !n.listen.empty()) n.links.push_back(0);
  }
}

}  // namespace

Expected<void> DnsService::sync() {
  ++syncs_;
  dns::Plan plan;
  {
    auto endpoints = read_();
    if (!endpoints) return fail(endpoints.error());
    plan = dns::plan_from(*endpoints);
    resolve_links(plan);
  }  // the records go before the zone is built: a lower peak
  dns::ZoneOptions zo{.skip_invalid_endpoints = true};
  if (auto ups = dns::read_resolv_conf(opts_.resolv_conf)) zo.host_upstreams = std::move(*ups);
  auto zone = dns::build_zone(plan.networks, plan.endpoints, zo);
  if (!zone) return fail(zone.error());
  plan.endpoints = {};
  for (const auto& why : (*zone)->skipped()) log("not served: " + why);

  std::string errors;
  std::map<std::string, std::unique_ptr<dns::Server>> next;
  for (const auto& spec : plan.listeners) {
    auto it = servers_.find(spec.key);
    if (it != servers_.end()) {
      next[spec.key] = std::move(it->second);
      servers_.erase(it);
      continue;
    }
    auto server = start_server(spec);
    if (!server) {
      // A container whose netns is gone (its DEL never came; GC will forget it) has nobody
      // to answer: not a reason to fail every other container's ADD on this host.
      if (server.error().sys_errno == ENOENT) {
        log("not served: " + server.error().msg);
        continue;
      }
      errors += (errors.empty() ? "" : "; ") + server.error().msg;
      continue;
    }
    next[spec.key] = std::move(*server);
  }
  servers_.swap(next);  // what is left in `next` is no longer wanted and stops here
  next.clear();
  for (auto& [key, server] : servers_) server->set_zone(*zone);
  networks_ = plan.networks.size();
  if (!errors.empty()) return fail(cni::make_error(cni::Code::kIoFailure, "DNS listeners: " + errors));
  return {};
}

Expected<std::unique_ptr<dns::Server>> DnsService::start_server(const dns::ListenerSpec& spec) {
  const net::IpAddr& address = spec.address;
  const std::string& netns = spec.netns;
  dns::Listener l{.address = {address, opts_.port}, .container_id = spec.container_id, .freebind = true};
  if (!netns.empty()) {
    auto ns = netns::Handle::open(netns);
    if (!ns) return fail(ns.error());
    auto fds = netns::run_in(*ns, [&]() -> Expected<std::pair<Fd, Fd>> {
      auto udp = bound_socket(SOCK_DGRAM, address, opts_.port);
      if (!udp) return fail(udp.error());
      auto tcp = bound_socket(SOCK_STREAM, address, opts_.port);
      if (!tcp) return fail(tcp.error());
      return std::pair<Fd, Fd>{std::move(*udp), std::move(*tcp)};
    });
    if (!fds) return fail(std::move(fds.error()).context("resolver in netns \"" + netns + "\""));
    l.udp_fd = fds->first.release();
    l.tcp_fd = fds->second.release();
  }
  auto server = dns::Server::create({.listeners = {l}, .log = [](dns::LogLevel level, std::string_view m) {
                                       if (level != dns::LogLevel::kDebug) log(std::string(m));
                                     }});
  if (!server) return fail(std::move(server.error()).context("DNS on " + spec.key));
  if (auto ok = (*server)->start(); !ok) return fail(ok.error());
  return server;
}

}  // namespace weir::agent
