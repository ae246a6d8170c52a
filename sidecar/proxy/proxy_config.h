// ProxyConfig: what strait-proxy reads from its YAML file and --flags.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "core/config/config.h"
#include "core/discovery/model.h"
#include "sidecar/proxy/http/h1_session.h"
#include "sidecar/proxy/http/h2_session.h"

namespace strait::proxy {

struct ProxyConfig {
  // Who this workload is, and how it proves it.
  std::string trust_domain;                      // identity.trustDomain
  std::string ns;                                // identity.namespace
  std::string service_account;                   // identity.serviceAccount
  std::string token_file;                        // identity.tokenFile (else env STRAIT_JOIN_TOKEN)
  std::string trust_anchors_file;                // identity.trustAnchors (PEM bundle)
  std::string identity_address;                  // controller.identity  host:port
  std::string destination_address;               // controller.destination host:port
  std::string cluster_domain = "cluster.local";  // cluster.domain
  std::string cluster_name;                      // cluster.name (gateways: loop detection)

  // Listeners.
  std::string outbound_listen = "127.0.0.1:4140";
  std::string inbound_listen = "0.0.0.0:4143";
  std::string admin_listen = "0.0.0.0:4191";
  // Explicit mode (no iptables): HTTP CONNECT <ip>:<port> on this address opens an outbound
  // connection to <ip>:<port> as if it had been intercepted. "" (the default): off.
  std::string explicit_listen;  // listen.explicit
  // Where the inbound side connects to the application (an IP literal): each workload on a
  // shared host listens on its own 127.x address.
  std::string inbound_forward_address = "127.0.0.1";  // inbound.forwardAddress

  // The workload.
  discovery::Labels labels;                  // workload.labels (policy selection, endpoint labels)
  std::vector<std::uint16_t> inbound_ports;  // workload.ports: policies fetched before /ready

  // Registration (optional): register this workload's endpoint.
  std::optional<std::string> register_service;  // register.service
  std::uint16_t register_port = 0;              // register.port
  std::vector<std::uint16_t> register_ports;    // register.ports (several; then port is 0)
  std::string register_name;                    // register.name
  std::string register_address;                 // register.address ("": the stream's source)
  std::string zone;                             // workload.zone

  // Limits and timeouts (brief, section 9).
  std::chrono::milliseconds outbound_connect_timeout{1000};
  std::chrono::milliseconds inbound_connect_timeout{300};
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds detect_timeout{10'000};  // timeouts.detect: protocol detection
  // protocol.opaquePorts: ports whose traffic is never inspected (default: detect.h's list).
  std::set<std::uint16_t> opaque_ports;
  // protocol.http: HTTP found by detection is proxied per request (false: every connection is
  // relayed as bytes, as before the L7 data plane; benchmarks compare the two).
  bool http = true;
  http::H1Limits h1_limits;  // the application's HTTP/1 connections
  http::H2Limits h2_limits;  // HTTP/2 sessions: applications' and between proxies
  std::chrono::milliseconds fail_fast{3000};
  // limits.failFastQueue: callers waiting at once for one target's first ready endpoint; the
  // next is refused at once (503 queue_full) rather than queued without bound.
  std::size_t fail_fast_queue = 1000;
  std::chrono::milliseconds idle_timeout{3'600'000};
  std::chrono::milliseconds destination_idle{60'000};
  std::chrono::milliseconds drain_timeout{30'000};
  // /ready waits at most this long after the first certificate for the first trust roots.
  std::chrono::milliseconds trust_ready_timeout{3000};
  // Peak EWMA (balancer.*): an endpoint's latency before it is measured, and how fast a peak
  // is forgotten (the reference proxy's defaults).
  std::chrono::milliseconds balancer_default_rtt{30};
  std::chrono::milliseconds balancer_decay{10'000};
  std::size_t max_connections = 10'000;
  std::size_t max_header_bytes = 1024;

  static Result<ProxyConfig> from(const config::Config& c);
};

}  // namespace strait::proxy
