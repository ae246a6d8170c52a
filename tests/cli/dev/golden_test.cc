// The dev status's golden metrics: parsing a proxy's exposition, success rate inputs and the p99
// as histogram_quantile computes it.
#include "cli/dev/golden.h"

#include <gtest/gtest.h>

#include <limits>

namespace strait::cli::dev {
namespace {

constexpr const char* kText = R"(# HELP response_total HTTP responses.
# TYPE response_total counter
response_total{direction="outbound",authority="web",dst_service="web",status_code="200",classification="success",grpc_status=""} 97
response_total{direction="outbound",authority="web",dst_service="web",status_code="503",classification="failure",grpc_status=""} 3
response_total{direction="inbound",authority="web",dst_service="",status_code="200",classification="success",grpc_status=""} 50
response_total{direction="outbound",authority="x \"quoted\"",dst_service="grpc",status_code="200",classification="failure",grpc_status="3"} 2
response_latency_ms_bucket{direction="outbound",dst_service="web",status_code="200",le="1"} 0
response_latency_ms_bucket{direction="outbound",dst_service="web",status_code="200",le="10"} 90
response_latency_ms_bucket{direction="outbound",dst_service="web",status_code="200",le="100"} 100
response_latency_ms_bucket{direction="outbound",dst_service="web",status_code="200",le="+Inf"} 100
tcp_open_total{direction="outbound",dst_service="web"} 4
)";

TEST(Golden, OutboundTrafficByService) {
  auto t = outbound_traffic(kText);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t["web"].responses, 100);
  EXPECT_EQ(t["web"].successes, 97);
  EXPECT_EQ(t["grpc"].responses, 2);
  EXPECT_EQ(t["grpc"].successes, 0);
  EXPECT_EQ(t["web"].buckets.size(), 4u);
}

TEST(Golden, HistogramQuantile) {
  auto t = outbound_traffic(kText);
  // rank 99 of 100 lies in (10, 100], 9 of its 10 observations in: 10 + 90 * 9/10.
  EXPECT_DOUBLE_EQ(histogram_quantile(t["web"].buckets, 0.99), 91);
  EXPECT_DOUBLE_EQ(histogram_quantile(t["web"].buckets, 0.5), 1 + 9 * 50.0 / 90);
  EXPECT_EQ(histogram_quantile({}, 0.99), -1);
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(histogram_quantile({{10, 1}, {inf, 10}}, 0.99), 10);  // beyond the last bound
}

}  // namespace
}  // namespace strait::cli::dev
