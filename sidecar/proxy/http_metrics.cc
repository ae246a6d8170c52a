// The golden HTTP metrics (see http_metrics.h).
#include "sidecar/proxy/http_metrics.h"

namespace strait::proxy {
namespace {

const std::vector<std::string> kRoute = {"direction",
                                         "authority",
                                         "tls",
                                         "client_id",
                                         "server_id",
                                         "dst_namespace",
                                         "dst_service",
                                         "dst_cluster",
                                         "target_cluster",
                                         "target_service",
                                         "target_service_namespace"};

std::vector<std::string> with(std::vector<std::string> base,
                              std::initializer_list<const char*> more) {
  for (const char* m : more) base.emplace_back(m);
  return base;
}

}  // namespace

Classification classify_response(unsigned status, std::optional<int> grpc_status, bool broken) {
  if (broken || status >= 500 || status == 0) return Classification::kFailure;
  if (grpc_status && *grpc_status != 0) return Classification::kFailure;
  return Classification::kSuccess;
}

std::vector<double> response_latency_buckets_ms() {
  return {1,   2,   3,    4,    5,    10,   20,   30,    40,    50,    100,   200,  300,
          400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000};
}

HttpMetricFamilies::HttpMetricFamilies(metrics::Registry& r)
    : request_total(r.counter("request_total", "HTTP requests.", kRoute)),
      response_total(r.counter("response_total", "HTTP responses, by status and classification.",
                               with(kRoute, {"status_code", "classification", "grpc_status"}))),
      response_latency_ms(
          r.histogram("response_latency_ms", "From a request's head to its response's end, in ms.",
                      with(kRoute, {"status_code"}), response_latency_buckets_ms())) {}

RouteMetrics::RouteMetrics(HttpMetricFamilies& families, HttpLabels l)
    : families_(families),
      base_{std::move(l.direction),
            std::move(l.authority),
            std::move(l.tls),
            std::move(l.client_id),
            std::move(l.server_id),
            std::move(l.dst_namespace),
            std::move(l.dst_service),
            std::move(l.dst_cluster),
            std::move(l.target_cluster),
            std::move(l.target_service),
            std::move(l.target_service_namespace)} {
  for (auto& v : base_) v = metrics::sanitize_utf8(v);
  requests_ = families_.request_total.with(base_);
}

void RouteMetrics::response(unsigned status, std::optional<int> grpc_status, bool broken,
                            std::chrono::nanoseconds latency) {
  const Classification cls = classify_response(status, grpc_status, broken);
  const int grpc = grpc_status.value_or(-1);
  PerStatus* slot = nullptr;
  for (auto& s : seen_) {
    if (s.status == status && s.grpc == grpc && s.cls == cls) {
      slot = &s;
      break;
    }
  }
  if (!slot) {
    const std::string code = status == 0 ? std::string() : std::to_string(status);
    auto labels = base_;
    labels.push_back(code);
    auto latency_labels = labels;
    labels.push_back(cls == Classification::kSuccess ? "success" : "failure");
    labels.push_back(grpc < 0 ? std::string() : std::to_string(grpc));
    seen_.push_back({status, grpc, cls, families_.response_total.with(labels),
                     families_.response_latency_ms.with(latency_labels)});
    slot = &seen_.back();
  }
  slot->responses.inc();
  slot->latency.observe(std::chrono::duration<double, std::milli>(latency).count());
}

}  // namespace strait::proxy
