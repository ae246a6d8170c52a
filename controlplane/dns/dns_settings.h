// DnsSettings: what the controller's DNS server reads from controller.yaml (listen.dns, dns.*).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace strait::controlplane::dns {

struct DnsSettings {
  // listen.dns: each "host:port" is served over UDP and TCP; empty: no DNS server. Port 0 picks
  // one free port for both.
  std::vector<std::string> listen = {"0.0.0.0:53"};
  std::vector<std::string> upstreams;  // dns.upstreams: "ip" or "ip:port"; none: refuse recursion
  // dns.recursionNetworks: the clients (the cluster's pod networks) whose queries for names
  // outside our zones are forwarded; anyone else gets REFUSED.
  std::vector<std::string> recursion_networks = {"127.0.0.0/8", "::1/128"};
  std::uint32_t ttl = 5;                       // dns.ttl: seconds, answers and negative answers
  std::uint32_t rate_limit = 1000;             // dns.rateLimit: UDP responses/s per source; 0 off
  std::size_t max_tcp_connections = 256;       // dns.maxTCPConnections
  std::chrono::milliseconds tcp_idle{10'000};  // dns.tcpIdleTimeout: no complete query within
  std::chrono::milliseconds forward_timeout{
      2000};                           // dns.forwardTimeout: a forwarded query's deadline
  std::size_t max_outstanding = 1000;  // dns.maxOutstanding: forwarded queries in flight
  std::size_t cache_entries = 10'000;  // dns.cacheSize: forwarded answers kept
};

}  // namespace strait::controlplane::dns
