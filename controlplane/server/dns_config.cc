// Reading and validating the controller's DNS settings.
#include "controlplane/server/dns_config.h"

#include <algorithm>

#include "core/discovery/manifest.h"
#include "core/net/address.h"

namespace strait::controlplane {
namespace {

Error invalid(const std::string& what) { return make_error("invalid_field", what); }

}  // namespace

Result<dns::DnsSettings> read_dns_settings(const config::Config& c) {
  dns::DnsSettings s;
  auto listen = c.get_string_list("listen.dns", s.listen);
  if (!listen) return listen.error();
  s.listen.clear();
  for (auto& a : *listen) {
    if (a.empty()) continue;
    if (auto hp = net::split_host_port(a); !hp) {
      return make_error("invalid_field", "listen.dns: " + hp.error().message);
    }
    s.listen.push_back(a);
  }
  auto upstreams = c.get_string_list("dns.upstreams", {});
  if (!upstreams) return upstreams.error();
  // Checked when the forwarder starts (an IP literal with an optional port).
  for (auto& u : *upstreams) {
    if (!u.empty()) s.upstreams.push_back(u);
  }
  auto networks = c.get_string_list("dns.recursionNetworks", s.recursion_networks);
  if (!networks) return networks.error();
  s.recursion_networks.clear();
  for (auto& n : *networks) {
    if (n.empty()) continue;
    if (!discovery::is_cidr(n)) {
      return make_error("invalid_field", "dns.recursionNetworks: \"" + n + "\" is not a CIDR");
    }
    s.recursion_networks.push_back(n);
  }
  std::int64_t ttl = 0, rate = 0, tcp = 0, outstanding = 0, cache = 0;
  auto read_int = [&](const char* path, std::int64_t def, std::int64_t& out) -> Result<void> {
    auto v = c.get_int(path, def);
    if (!v) return v.error();
    out = *v;
    return {};
  };
  for (auto r :
       {read_int("dns.ttl", s.ttl, ttl), read_int("dns.rateLimit", s.rate_limit, rate),
        read_int("dns.maxTCPConnections", static_cast<std::int64_t>(s.max_tcp_connections), tcp),
        read_int("dns.maxOutstanding", static_cast<std::int64_t>(s.max_outstanding), outstanding),
        read_int("dns.cacheSize", static_cast<std::int64_t>(s.cache_entries), cache)}) {
    if (!r) return r.error();
  }
  auto idle = c.get_duration("dns.tcpIdleTimeout", s.tcp_idle);
  if (!idle) return idle.error();
  auto forward = c.get_duration("dns.forwardTimeout", s.forward_timeout);
  if (!forward) return forward.error();
  if (ttl < 0 || ttl > 86400) return invalid("dns.ttl: must be 0..86400 (seconds)");
  if (rate < 0 || rate > 10'000'000) return invalid("dns.rateLimit: must be 0..10000000");
  if (tcp < 1 || tcp > 100'000) return invalid("dns.maxTCPConnections: must be 1..100000");
  if (outstanding < 1 || outstanding > 100'000) {
    return invalid("dns.maxOutstanding: must be 1..100000");
  }
  if (cache < 0 || cache > 10'000'000) return invalid("dns.cacheSize: must be 0..10000000");
  if (*idle < std::chrono::milliseconds(100) || *forward < std::chrono::milliseconds(10)) {
    return invalid("dns: tcpIdleTimeout must be at least 100ms, forwardTimeout at least 10ms");
  }
  s.ttl = static_cast<std::uint32_t>(ttl);
  s.rate_limit = static_cast<std::uint32_t>(rate);
  s.max_tcp_connections = static_cast<std::size_t>(tcp);
  s.max_outstanding = static_cast<std::size_t>(outstanding);
  s.cache_entries = static_cast<std::size_t>(cache);
  s.tcp_idle = *idle;
  s.forward_timeout = *forward;
  return s;
}

}  // namespace strait::controlplane
