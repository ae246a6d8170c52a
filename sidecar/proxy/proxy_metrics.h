// Every metric strait-proxy exports, declared once. Names and labels follow the reference
// proxy's, so that existing dashboards carry over.
#pragma once

#include "core/metrics/metrics.h"
#include "sidecar/proxy/http_metrics.h"

namespace strait::proxy {

// Labels of the tcp_* families: which connection, seen from which side.
struct ConnLabels {
  std::string direction;  // inbound | outbound
  std::string tls;        // true | false | no_identity
  std::string client_id;  // inbound: the verified client identity
  std::string server_id;  // outbound: the identity the server proved
  std::string dst_namespace, dst_service, dst_cluster;
  // Gateway mirrors: the remote service behind the gateway (the endpoint's metric labels).
  std::string target_cluster, target_service, target_service_namespace;

  metrics::LabelValues values() const {
    return {direction,   tls,         client_id,      server_id,      dst_namespace,
            dst_service, dst_cluster, target_cluster, target_service, target_service_namespace};
  }
};

struct ProxyMetrics {
  explicit ProxyMetrics(metrics::Registry& r)
      : tcp_open_total(r.counter("tcp_open_total", "TCP connections opened.", kConn)),
        tcp_open_connections(r.gauge("tcp_open_connections", "TCP connections open now.", kConn)),
        tcp_read_bytes_total(r.counter(
            "tcp_read_bytes_total", "Bytes read from the peer that opened the connection.", kConn)),
        tcp_write_bytes_total(r.counter("tcp_write_bytes_total",
                                        "Bytes written to the peer that opened the connection.",
                                        kConn)),
        tcp_close_total(r.counter("tcp_close_total",
                                  "TCP connections closed, by error (empty: clean).",
                                  {"direction", "tls", "client_id", "server_id", "dst_namespace",
                                   "dst_service", "dst_cluster", "target_cluster", "target_service",
                                   "target_service_namespace", "error"})),
        authz_allow(r.counter("inbound_tcp_authz_allow_total", "Inbound connections authorized.",
                              {"target_port", "server", "authz", "client_id"})),
        authz_deny(r.counter("inbound_tcp_authz_deny_total",
                             "Inbound connections refused by policy.",
                             {"target_port", "server", "reason", "client_id"})),
        http_authz_allow(r.counter("inbound_http_authz_allow_total",
                                   "Inbound HTTP requests authorized.",
                                   {"target_port", "server", "authz", "client_id"})),
        http_authz_deny(r.counter("inbound_http_authz_deny_total",
                                  "Inbound HTTP requests refused by policy (403).",
                                  {"target_port", "server", "reason", "client_id"})),
        refused(r.counter("proxy_refused_total",
                          "Connections refused before reaching policy or a destination, by reason.",
                          {"direction", "reason"})),
        cert_expiry(r.gauge("identity_cert_expiration_timestamp_seconds",
                            "When this proxy's certificate expires (unix seconds).", {})),
        cert_renewals(r.counter("identity_cert_refresh_total", "Certificate renewals, by result.",
                                {"result"})),
        control_streams(r.gauge("control_plane_streams_connected",
                                "Open streams to the controller, by API.", {"api"})),
        trust_roots(r.gauge("identity_trust_roots",
                            "Trusted root certificates, by the trust domain they may vouch for "
                            "(the proxy's own trust domain: its cluster's anchors, trusted for "
                            "any).",
                            {"trust_domain"})),
        endpoint_waiting(r.gauge("endpoint_wait_queue",
                                 "Requests and connections waiting now for a target's first "
                                 "ready endpoint (the fail-fast queue, limits.failFastQueue per "
                                 "target).",
                                 {})),
        http(r) {}

  static inline const std::vector<std::string> kConn = {
      "direction",   "tls",         "client_id",      "server_id",      "dst_namespace",
      "dst_service", "dst_cluster", "target_cluster", "target_service", "target_service_namespace"};

  metrics::CounterFamily& tcp_open_total;
  metrics::GaugeFamily& tcp_open_connections;
  metrics::CounterFamily& tcp_read_bytes_total;
  metrics::CounterFamily& tcp_write_bytes_total;
  metrics::CounterFamily& tcp_close_total;
  metrics::CounterFamily& authz_allow;
  metrics::CounterFamily& authz_deny;
  metrics::CounterFamily& http_authz_allow;
  metrics::CounterFamily& http_authz_deny;
  metrics::CounterFamily& refused;
  metrics::GaugeFamily& cert_expiry;
  metrics::CounterFamily& cert_renewals;
  metrics::GaugeFamily& control_streams;
  metrics::GaugeFamily& trust_roots;
  metrics::GaugeFamily& endpoint_waiting;
  HttpMetricFamilies http;  // request_total, response_total, response_latency_ms
};

}  // namespace strait::proxy
