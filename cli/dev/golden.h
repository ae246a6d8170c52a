// The golden metrics of a dev mesh's clients, read from their proxies' /metrics: per destination
// service, the request rate (from two scrapes), the success rate and the p99 latency (from the
// response_total and response_latency_ms series since the proxy started, as
// histogram_quantile would compute them). Prometheus text is parsed here only as far as these
// two families need.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace strait::cli::dev {

struct ServiceTraffic {
  double responses = 0;
  double successes = 0;
  std::map<double, double> buckets;  // upper bound (ms; +Inf as infinity) -> cumulative count
};

// Outbound responses of one proxy, by dst_service.
std::map<std::string, ServiceTraffic> outbound_traffic(std::string_view metrics_text);

// The q-quantile (0..1) of a cumulative histogram, linearly interpolated inside its bucket;
// -1 without observations.
double histogram_quantile(const std::map<double, double>& buckets, double q);

}  // namespace strait::cli::dev
