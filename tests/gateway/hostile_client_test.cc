// What a hostile workload can try with nothing but a mesh certificate the controller issued, at
// a workload's proxy and at the gateway (docs/security.md): reach the proxy's own listeners
// through its inbound forwarder (POST /shutdown as a loopback peer), name ports that are not
// ports (0, 65536, leading zeros) or that the service does not declare, and misuse the TLS probe
// port (idle connections, oversized headers, a body sent after the answer).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <string>

#include "tests/gateway/gateway_suite.h"

namespace strait::gateway_it {
namespace {

struct HostileClientTestTag {};
class HostileClientTest : public GatewaySuite<HostileClientTestTag> {
 protected:
  static double counted(const std::string& metrics, const std::string& direction,
                        const std::string& reason) {
    return std::max(0.0, metric_sum(metrics, "proxy_refused_total",
                                    {{"direction", direction}, {"reason", reason}}));
  }
  double gateway_refused(const std::string& reason) {
    return counted(env_->gateway_metrics(), "gateway", reason);
  }
  double probe_refused(const std::string& reason) {
    return counted(env_->gateway_metrics(), "admin", reason);
  }
  double probe_refused_all() {
    return std::max(
        0.0, metric_sum(env_->gateway_metrics(), "proxy_refused_total", {{"direction", "admin"}}));
  }

  // A gateway connection naming `name` must be refused for `reason` (counted), not after the
  // fail-fast wait for endpoints.
  void expect_gateway_refuses(const std::string& name, const std::string& reason) {
    SCOPED_TRACE(name);
    const double before = gateway_refused(reason);
    const double waited = gateway_refused("no_ready_endpoints");
    auto c = env_->open(name);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    (*c)->send_all("must not reach the echo server\n");
    bool closed = false;
    EXPECT_EQ((*c)->read_to_end(10s, &closed), "");
    EXPECT_TRUE(closed);
    double now = before;
    EXPECT_TRUE(wait_until([&] { return (now = gateway_refused(reason)) >= before + 1; }, 10s))
        << "proxy_refused_total{direction=\"gateway\",reason=\"" << reason << "\"} stayed at "
        << now;
    EXPECT_EQ(gateway_refused("no_ready_endpoints"), waited);
  }
};

// Finding 1: a transport header naming the proxy's admin port made the inbound side forward to
// 127.0.0.1:<admin>, where POST /shutdown (loopback only) answered 202 and the proxy exited.
TEST_F(HostileClientTest, NoProxyListenerIsReachableThroughTheInboundForwarder) {
  const double before = counted(env_->target_metrics(), "inbound", "proxy_port");
  for (std::uint16_t own : {env_->target_admin_port, env_->target_proxy_port}) {
    SCOPED_TRACE("target port " + std::to_string(own));
    proxy::TransportHeader h;
    h.target_port = own;
    auto c = env_->open_with_header(env_->target_proxy_port, h);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    (*c)->send_all("POST /shutdown HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    bool closed = false;
    const std::string answer = (*c)->read_to_end(10s, &closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(answer, "") << "the proxy's own listener answered a remote caller";
  }
  // The proxy is alive and serving, and the attempts are counted.
  auto live = plain_get(env_->target_admin_port, "/live");
  EXPECT_EQ(live.first, 200) << live.second;
  double now = before;
  EXPECT_TRUE(wait_until(
      [&] {
        return (now = counted(env_->target_metrics(), "inbound", "proxy_port")) >= before + 2;
      },
      10s))
      << now;
  // The workload's own port still works for the same client.
  proxy::TransportHeader h;
  h.target_port = env_->echo_port;
  auto c = env_->open_with_header(env_->target_proxy_port, h);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_TRUE((*c)->echo("still serving\n"));
}

// Finding 4: ports of 0 or above 65535 and leading zeros were accepted (and only answered after
// the 3 s fail-fast); so was a port the service does not declare.
TEST_F(HostileClientTest, GatewayReadsPortsStrictlyAndOnlyDeclaredOnes) {
  for (const char* port : {"0", "65536", "4294967376", "000080", "080"}) {
    expect_gateway_refuses(std::string("echo.shop.svc.cluster.local:") + port, "bad_target_port");
  }
  // echo.shop declares 80 (-> the echo app's port); the app's own port is not a service port.
  expect_gateway_refuses(GatewayEnv::echo_name(env_->echo_port), "undeclared_port");
  expect_gateway_refuses(GatewayEnv::echo_name(8080), "undeclared_port");
  // The declared port works.
  auto c = env_->open(GatewayEnv::echo_name());
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_TRUE((*c)->echo("declared\n"));
}

// Finding 6: an idle connection to the probe port counted twice (read_timeout and
// tls_handshake_failed).
TEST_F(HostileClientTest, ProbePortCountsAnIdleConnectionOnce) {
  const double all = probe_refused_all();
  const double timeouts = probe_refused("read_timeout");
  auto c = PlainConn::connect(env_->gateway_admin_port);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  bool closed = false;
  c->read_to_end(15s, &closed);
  EXPECT_TRUE(closed) << "an idle connection was not cut off";
  ASSERT_TRUE(wait_until([&] { return probe_refused("read_timeout") >= timeouts + 1; }, 5s));
  EXPECT_EQ(probe_refused_all(), all + 1) << env_->gateway_metrics();
}

// Finding 6: an oversized header was closed without a 431.
TEST_F(HostileClientTest, ProbePortAnswersAnOversizedHeaderWith431) {
  const double before = probe_refused("header_too_large");
  auto c = TlsConn::connect(env_->gateway_admin_port, env_->contexts.without_cert);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_TRUE((*c)->send_all(
      "GET /ready HTTP/1.1\r\nHost: gw\r\nX-Big: " + std::string(16 * 1024, 'a') + "\r\n\r\n"));
  bool closed = false;
  const std::string answer = (*c)->read_to_end(10s, &closed);
  EXPECT_EQ(answer.rfind("HTTP/1.1 431 ", 0), 0u) << answer;
  EXPECT_TRUE(closed);
  EXPECT_TRUE(wait_until([&] { return probe_refused("header_too_large") >= before + 1; }, 5s));
}

// Finding 6: the 405 was lost when the client kept sending: the server closed with the body
// still arriving, the reset cut curl's upload, and curl never showed the answer.
TEST_F(HostileClientTest, ProbePortAnswer405SurvivesABodyStillArriving) {
  const fs::path body = env_->dir() / "body.bin";
  std::ofstream(body) << std::string(200 * 1024, 'x');
  const std::string cmd =
      "curl -sk --max-time 10 -o /dev/null -w '%{http_code}' -X POST "
      "--data-binary @" +
      body.string() + " https://127.0.0.1:" + std::to_string(env_->gateway_admin_port) +
      "/ready 2>&1";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  EXPECT_EQ(out, "405");
  // And the probe still answers.
  EXPECT_EQ(env_->https_get("/ready").first, 200);
}

}  // namespace
}  // namespace strait::gateway_it
