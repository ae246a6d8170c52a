// The admin HTTP port of the real controller: /live and /ready, and a /metrics exposition that
// promtool accepts after some activity on every API.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/controlplane/integration/controller_process.h"
#include "tests/controlplane/integration/destination_watch.h"
#include "tests/controlplane/integration/test_objects.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;

TEST(ControllerAdminHttp, LiveReadyAndMetricsPassPromtool) {
  const std::string promtool = STRAIT_PROMTOOL;
  ASSERT_FALSE(promtool.empty() || promtool.ends_with("NOTFOUND"))
      << "promtool not found (Debian package prometheus)";

  ControllerProcess c;
  ASSERT_TRUE(c.install());
  auto started = c.start();
  ASSERT_TRUE(started) << started.error().to_string();

  auto live = c.get("/live");
  EXPECT_EQ(live.status, 200) << live.headers;
  auto ready = c.get("/ready");
  EXPECT_EQ(ready.status, 200) << ready.headers << ready.body;

  // Activity on every API, refusals included, so that labelled series exist.
  ASSERT_TRUE(
      c.apply({service("shop", "web", 80, 8080), endpoint("shop", "web-1", "web", "10.0.0.1", 8080),
               server("shop", "web-http", 8080, {{"app", "web"}})}));
  ASSERT_TRUE(c.certify_workload("shop", "web"));
  EXPECT_FALSE(certify(c.identity_address(), c.anchor_pem(),
                       identity::SpiffeId::workload("east.strait", "shop", "web"), "not-a-token",
                       10s));
  DestinationWatch w(c.channel(c.admin_credentials()), "web.shop.svc.cluster.local:80");
  ASSERT_TRUE(w.wait_for_addrs({"10.0.0.1:8080"}, 10s)) << w.history();

  auto metrics = c.get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.headers.find("text/plain; version=0.0.4"), std::string::npos)
      << metrics.headers;
  const std::string& body = metrics.body;
  EXPECT_EQ(metric_value(body, "identity_certificates_issued_total"), 1.0) << body;
  EXPECT_EQ(metric_value(body, "identity_certificates_refused_total{reason=\"malformed_token\"}"),
            1.0)
      << body;
  EXPECT_EQ(metric_value(body, "controller_streams_open{api=\"destination\"}"), 1.0) << body;
  EXPECT_EQ(metric_value(body, "store_objects{kind=\"Service\"}"), 1.0) << body;
  EXPECT_EQ(metric_value(body, "store_objects{kind=\"Endpoint\"}"), 1.0) << body;
  EXPECT_GE(metric_value(body, "store_version"), 3.0) << body;
  EXPECT_GT(metric_value(body, "identity_ca_expiration_timestamp_seconds{ca=\"issuer\"}"), 1.7e9)
      << body;

  // promtool reads the exposition on stdin; hand it over through a file.
  auto file = c.state_dir().parent_path() / "metrics.txt";
  std::ofstream(file) << body;
  auto check = run_process(
      {"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", promtool, file.string()}, 60s);
  EXPECT_EQ(check.exit_code, 0) << "promtool check metrics:\n"
                                << check.output << "\n--- exposition:\n"
                                << body;

  // promtool is a real judge: a broken exposition fails.
  std::ofstream(file) << "# TYPE x counter\nx{a=\"unterminated} 1\n";
  EXPECT_NE(
      run_process({"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", promtool, file.string()},
                  60s)
          .exit_code,
      0);
}

}  // namespace
}  // namespace strait::controlplane::testing
