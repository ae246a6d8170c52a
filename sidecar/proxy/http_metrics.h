// The golden HTTP metrics, with the reference proxy's names so that its dashboards work:
//   request_total        requests sent on (outbound) or received (inbound)
//   response_total       responses, by status_code, classification (success | failure) and
//                        grpc_status (from the trailers, or a trailers-only response's head)
//   response_latency_ms  from the request's head to the response's end, by status_code
// with the labels of the route (direction, authority, tls, client_id / server_id, dst_*, and at
// the gateway target_*). A RouteMetrics holds the handles of one label set: the request path
// keeps one per route and endpoint, so a request does no registry lookup and no allocation once
// its status has been seen (a few statuses per route, kept in a small local table).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics/metrics.h"

namespace strait::proxy {

struct HttpLabels {
  std::string direction;  // inbound | outbound
  std::string authority;  // the request's :authority / Host
  std::string tls;        // true | false | no_identity
  std::string client_id;  // inbound: the verified client identity
  std::string server_id;  // outbound: the identity the server proved
  std::string dst_namespace, dst_service, dst_cluster;
  std::string target_cluster, target_service, target_service_namespace;  // gateway mirrors
};

// How a response counts: failure for 5xx, for a gRPC status other than OK, or when the
// exchange broke (no response, reset body).
enum class Classification { kSuccess, kFailure };
Classification classify_response(unsigned status, std::optional<int> grpc_status, bool broken);

struct HttpMetricFamilies {
  explicit HttpMetricFamilies(metrics::Registry& r);
  metrics::CounterFamily& request_total;
  metrics::CounterFamily& response_total;
  metrics::HistogramFamily& response_latency_ms;
};

// The reference's latency buckets, in milliseconds.
std::vector<double> response_latency_buckets_ms();

class RouteMetrics {
 public:
  RouteMetrics(HttpMetricFamilies& families, HttpLabels labels);
  void request() const { requests_.inc(); }
  // One response (or a broken exchange: status 0 is written as status_code "").
  void response(unsigned status, std::optional<int> grpc_status, bool broken,
                std::chrono::nanoseconds latency);

 private:
  struct PerStatus {
    unsigned status;
    int grpc;  // -1: none
    Classification cls;
    metrics::Counter responses;
    metrics::Histogram latency;
  };
  HttpMetricFamilies& families_;
  std::vector<std::string> base_;  // label values shared by every series of this route
  metrics::Counter requests_;
  std::vector<PerStatus> seen_;  // linear: a route sees a handful of statuses
};

}  // namespace strait::proxy
