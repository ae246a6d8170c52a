// ProxyConfig: reading and validating.
#include "sidecar/proxy/proxy_config.h"

#include <boost/asio/ip/address.hpp>
#include <charconv>
#include <tuple>

#include "core/net/address.h"
#include "sidecar/proxy/detect.h"

namespace strait::proxy {
namespace {

using std::chrono::milliseconds;

template <typename T, typename U>
Result<void> read(Result<T> r, U& out) {
  if (!r) return r.error();
  out = static_cast<U>(*r);
  return {};
}

// An IP literal (IPv6 with or without brackets) that a connection can go to.
Result<void> check_unicast_ip(const std::string& key, const std::string& ip) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(ip, ec);
  if (ec) return make_error("invalid_field", key + ": \"" + ip + "\" is not an IP address");
  if (a.is_unspecified() || a.is_multicast()) {
    return make_error("invalid_field", key + ": " + ip + " is not a unicast address");
  }
  return {};
}

// "ip:port" ("[v6]:port"), port 0..65535 (0: any free port).
Result<void> check_listen(const std::string& key, const std::string& value) {
  auto colon = value.rfind(':');
  auto bad = [&](const std::string& why) {
    return make_error("invalid_field", key + ": \"" + value + "\" " + why);
  };
  if (colon == std::string::npos || colon == 0) return bad("is not ip:port");
  std::string host = value.substr(0, colon), port = value.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (ec) return bad("does not start with an IP address (ip:port)");
  int v = -1;
  auto [end, pec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (port.empty() || pec != std::errc() || end != port.data() + port.size() || v < 0 ||
      v > 65535) {
    return bad("has no valid port (0..65535)");
  }
  return {};
}

}  // namespace

Result<ProxyConfig> ProxyConfig::from(const config::Config& c) {
  ProxyConfig p;
  std::vector<std::string> ports, opaque, register_ports;
  std::string register_service;
  std::int64_t register_port = 0, max_conn = 0, max_header = 0, queue = 0;
  for (auto r :
       {read(c.require_string("identity.trustDomain"), p.trust_domain),
        read(c.require_string("identity.namespace"), p.ns),
        read(c.require_string("identity.serviceAccount"), p.service_account),
        read(c.get_string("identity.tokenFile", ""), p.token_file),
        read(c.require_string("identity.trustAnchors"), p.trust_anchors_file),
        read(c.require_string("controller.identity"), p.identity_address),
        read(c.require_string("controller.destination"), p.destination_address),
        read(c.get_string("cluster.domain", p.cluster_domain), p.cluster_domain),
        read(c.get_string("cluster.name", ""), p.cluster_name),
        read(c.get_string("listen.outbound", p.outbound_listen), p.outbound_listen),
        read(c.get_string("listen.inbound", p.inbound_listen), p.inbound_listen),
        read(c.get_string("listen.admin", p.admin_listen), p.admin_listen),
        read(c.get_string("listen.explicit", ""), p.explicit_listen),
        read(c.get_string("inbound.forwardAddress", p.inbound_forward_address),
             p.inbound_forward_address),
        read(c.get_string_list("workload.ports", {}), ports),
        read(c.get_string("workload.zone", ""), p.zone),
        read(c.get_string("register.service", ""), register_service),
        read(c.get_int("register.port", 0), register_port),
        read(c.get_string_list("register.ports", {}), register_ports),
        read(c.get_string("register.name", ""), p.register_name),
        read(c.get_string("register.address", ""), p.register_address),
        read(c.get_duration("timeouts.outboundConnect", p.outbound_connect_timeout),
             p.outbound_connect_timeout),
        read(c.get_duration("timeouts.inboundConnect", p.inbound_connect_timeout),
             p.inbound_connect_timeout),
        read(c.get_duration("timeouts.handshake", p.handshake_timeout), p.handshake_timeout),
        read(c.get_duration("timeouts.detect", p.detect_timeout), p.detect_timeout),
        read(c.get_string_list("protocol.opaquePorts", {}), opaque),
        read(c.get_bool("protocol.http", true), p.http),
        read(c.get_duration("timeouts.failFast", p.fail_fast), p.fail_fast),
        read(c.get_duration("timeouts.idle", p.idle_timeout), p.idle_timeout),
        read(c.get_duration("timeouts.destinationIdle", p.destination_idle), p.destination_idle),
        read(c.get_duration("timeouts.drain", p.drain_timeout), p.drain_timeout),
        read(c.get_duration("timeouts.trustReady", p.trust_ready_timeout), p.trust_ready_timeout),
        read(c.get_duration("balancer.defaultRtt", p.balancer_default_rtt), p.balancer_default_rtt),
        read(c.get_duration("balancer.decay", p.balancer_decay), p.balancer_decay),
        read(c.get_int("limits.maxConnections", 10'000), max_conn),
        read(c.get_int("limits.maxHeaderBytes", 1024), max_header),
        read(c.get_int("limits.failFastQueue", 1000), queue)}) {
    if (!r) return r.error();
  }
  p.opaque_ports =
      c.has("protocol.opaquePorts") ? std::set<std::uint16_t>{} : default_opaque_ports();
  for (const auto& s : opaque) {
    auto port = net::parse_wire_port(s);
    if (!port) {
      return make_error("invalid_field", "protocol.opaquePorts: \"" + s + "\" is not a port");
    }
    p.opaque_ports.insert(*port);
  }
  for (const auto& [key, texts, out] :
       {std::tuple{"workload.ports", &ports, &p.inbound_ports},
        std::tuple{"register.ports", &register_ports, &p.register_ports}}) {
    for (const auto& s : *texts) {
      int v = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || end != s.data() + s.size() || v <= 0 || v > 65535) {
        return make_error("invalid_field", std::string(key) + ": \"" + s + "\" is not a port");
      }
      out->push_back(static_cast<std::uint16_t>(v));
    }
  }
  auto labels = c.subtree("workload.labels");
  if (labels.IsMap()) {
    for (const auto& kv : labels) {
      if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
        return make_error("invalid_field", "workload.labels: keys and values must be strings");
      }
      p.labels[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  } else if (labels.IsDefined() && !labels.IsNull()) {
    return make_error("invalid_field", "workload.labels: expected a map of strings");
  }
  if (!register_service.empty()) {
    if (!p.register_ports.empty() && register_port != 0) {
      return make_error("invalid_field", "register: give port or ports, not both");
    }
    if (p.register_ports.empty() && (register_port <= 0 || register_port > 65535)) {
      return make_error("invalid_field",
                        "register.port: must be 1..65535 when register.service is set");
    }
    p.register_service = register_service;
    p.register_port = static_cast<std::uint16_t>(register_port);
  }
  if (!p.explicit_listen.empty()) {
    if (auto r = check_listen("listen.explicit", p.explicit_listen); !r) return r.error();
    // Same address as another listener: a clear error here rather than a bind failure later.
    for (const auto& [key, other] : {std::pair{"listen.outbound", p.outbound_listen},
                                     std::pair{"listen.inbound", p.inbound_listen},
                                     std::pair{"listen.admin", p.admin_listen}}) {
      if (other == p.explicit_listen && !p.explicit_listen.ends_with(":0")) {
        return make_error("invalid_field", std::string("listen.explicit: same address as ") + key +
                                               " (" + other + ")");
      }
    }
  }
  auto& fwd = p.inbound_forward_address;
  if (fwd.size() > 1 && fwd.front() == '[' && fwd.back() == ']')
    fwd = fwd.substr(1, fwd.size() - 2);
  if (auto r = check_unicast_ip("inbound.forwardAddress", p.inbound_forward_address); !r) {
    return r.error();
  }
  if (max_conn < 1) return make_error("invalid_field", "limits.maxConnections: must be positive");
  if (queue < 1) return make_error("invalid_field", "limits.failFastQueue: must be positive");
  p.fail_fast_queue = static_cast<std::size_t>(queue);
  if (p.balancer_default_rtt <= std::chrono::milliseconds::zero() ||
      p.balancer_decay < std::chrono::milliseconds(100)) {
    return make_error("invalid_field",
                      "balancer: defaultRtt must be positive, decay at least 100ms");
  }
  if (max_header < 16 || max_header > 65535) {
    return make_error("invalid_field", "limits.maxHeaderBytes: must be 16..65535");
  }
  p.max_connections = static_cast<std::size_t>(max_conn);
  p.max_header_bytes = static_cast<std::size_t>(max_header);
  return p;
}

}  // namespace strait::proxy
