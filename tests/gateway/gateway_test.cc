// strait-gateway end to end on loopback: a remote client's mTLS connection with a transport
// header through the gateway to a local workload's proxy; every refusal counted by reason; the
// TLS probe port; garbage on both ports.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "tests/gateway/gateway_suite.h"

namespace strait::gateway_it {
namespace {

struct GatewayTestTag {};
class GatewayTest : public GatewaySuite<GatewayTestTag> {
 protected:
  // Runs `attempt` and expects the gateway to count exactly this refusal reason.
  void expect_refused(const std::string& reason, const std::function<void()>& attempt) {
    const double before = env_->gateway_refused(reason);
    attempt();
    double now = before;
    EXPECT_TRUE(
        wait_until([&] { return (now = env_->gateway_refused(reason)) >= before + 1; }, 10s, 50ms))
        << "proxy_refused_total{direction=\"gateway\",reason=\"" << reason << "\"} stayed at "
        << now;
    EXPECT_TRUE(env_->gateway().alive());
  }

  // A TLS connection with a header that the gateway must refuse: it ends without a byte.
  void expect_closed_without_data(TlsConn& c) {
    c.send_all("should never reach the echo server\n");
    bool closed = false;
    std::string got = c.read_to_end(10s, &closed);
    EXPECT_TRUE(closed) << "the gateway kept a refused connection open";
    EXPECT_EQ(got, "");
  }
};

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& ch : out) ch = static_cast<char>(rng() & 0xff);
  return out;
}

// ---- 1. the data path ----

TEST_F(GatewayTest, EchoesThroughTheGatewayToTheTargetsProxyWithTheGatewaysIdentity) {
  const std::map<std::string, std::string> at_target = {{"direction", "inbound"},
                                                        {"client_id", kGatewayId}};
  const std::map<std::string, std::string> at_gateway = {{"direction", "gateway"},
                                                         {"client_id", kClientId},
                                                         {"server_id", kTargetId},
                                                         {"dst_namespace", "shop"},
                                                         {"dst_service", "echo"}};
  const double target_before =
      std::max(0.0, metric_sum(env_->target_metrics(), "tcp_open_total", at_target));
  const double gateway_before =
      std::max(0.0, metric_sum(env_->gateway_metrics(), "tcp_open_total", at_gateway));

  auto c = env_->open(GatewayEnv::echo_name());
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_TRUE((*c)->echo("hello through the gateway\n"));
  const std::string big = random_bytes(256 * 1024, 7);
  EXPECT_TRUE((*c)->echo(big, 15s));
  // Half-close travels through both hops; the echo server then closes and so does everything.
  ASSERT_TRUE((*c)->shutdown_write());
  bool closed = false;
  EXPECT_EQ((*c)->read_to_end(10s, &closed), "");
  EXPECT_TRUE(closed);

  double target_now = 0, gateway_now = 0;
  EXPECT_TRUE(wait_until(
      [&] {
        return (target_now = metric_sum(env_->target_metrics(), "tcp_open_total", at_target)) >=
               target_before + 1;
      },
      10s, 50ms))
      << "the target's proxy saw no inbound connection from " << kGatewayId << ":\n"
      << env_->target_metrics();
  EXPECT_TRUE(wait_until(
      [&] {
        return (gateway_now = metric_sum(env_->gateway_metrics(), "tcp_open_total", at_gateway)) >=
               gateway_before + 1;
      },
      10s, 50ms))
      << env_->gateway_metrics();
}

TEST_F(GatewayTest, RoutesByTargetNameNotByTheHeadersPort) {
  // The header's port field is the remote side's; the gateway sends the endpoint's port.
  auto c = env_->open(GatewayEnv::echo_name(), /*target_port=*/1);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_TRUE((*c)->echo("port comes from the endpoint\n"));
}

// ---- 2. refusals ----

TEST_F(GatewayTest, RefusesPlaintext) {
  expect_refused("plaintext_to_proxy_port", [&] {
    auto c = PlainConn::connect(env_->gateway_port);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    c->send_all("GET / HTTP/1.1\r\nHost: echo.shop.svc.cluster.local\r\n\r\n");
    bool closed = false;
    EXPECT_EQ(c->read_to_end(10s, &closed), "");
    EXPECT_TRUE(closed);
  });
}

TEST_F(GatewayTest, RefusesClientsWithoutACertificate) {
  expect_refused("unauthenticated", [&] {
    auto c = env_->open(GatewayEnv::echo_name(), kEchoServicePort, env_->contexts.without_cert);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    expect_closed_without_data(**c);
  });
}

TEST_F(GatewayTest, RefusesCertificatesFromAnUnrelatedRoot) {
  expect_refused("tls_handshake_failed", [&] {
    // With TLS 1.3 the client may finish its side before the server rejects its certificate.
    auto c = env_->open(GatewayEnv::echo_name(), kEchoServicePort, env_->contexts.foreign_cert);
    if (c) expect_closed_without_data(**c);
  });
}

TEST_F(GatewayTest, RefusesTargetsOutsideTheClusterDomain) {
  for (const char* name : {"echo.shop.svc.other.local:80", "echo.shop.svc.cluster.local",
                           "svc.cluster.local:80", "echo.shop.svc.cluster.local.evil.example:80"}) {
    SCOPED_TRACE(name);
    expect_refused("outside_domain", [&] {
      auto c = env_->open(name);
      ASSERT_TRUE(c.ok()) << c.error().to_string();
      expect_closed_without_data(**c);
    });
  }
}

TEST_F(GatewayTest, RefusesHeadersWithoutATargetName) {
  expect_refused("no_target_name", [&] {
    auto c = env_->open("");
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    expect_closed_without_data(**c);
  });
}

TEST_F(GatewayTest, RefusesUnknownServices) {
  expect_refused("unknown_service", [&] {
    auto c = env_->open("nothere.shop.svc.cluster.local:80");
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    expect_closed_without_data(**c);
  });
}

TEST_F(GatewayTest, RefusesServicesWithoutReadyEndpoints) {
  expect_refused("no_ready_endpoints", [&] {
    auto c = env_->open("empty.shop.svc.cluster.local:80");
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    expect_closed_without_data(**c);
  });
}

TEST_F(GatewayTest, RefusesMirrorsAsLoops) {
  expect_refused("loop", [&] {
    auto c = env_->open("mirror.shop.svc.cluster.local:80");
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    expect_closed_without_data(**c);
  });
}

// ---- 3. the probe port ----

TEST_F(GatewayTest, ProbePortAnswersReadyLiveAndMetricsOverTls) {
  auto ready = env_->https_get("/ready");
  EXPECT_EQ(ready.first, 200) << ready.second;
  EXPECT_EQ(ready.second, "ready\n");
  auto live = env_->https_get("/live");
  EXPECT_EQ(live.first, 200) << live.second;
  EXPECT_EQ(env_->https_get("/nothing").first, 404);

  // With a client certificate too (what another cluster's link probe presents).
  auto c = TlsConn::connect(env_->gateway_admin_port, env_->contexts.with_client_cert);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_TRUE((*c)->send_all("GET /ready HTTP/1.1\r\nHost: gw\r\n\r\n"));
  bool closed = false;
  EXPECT_EQ((*c)->read_to_end(5s, &closed).rfind("HTTP/1.1 200 ", 0), 0u);

  // Plain HTTP is not served there.
  auto plain = PlainConn::connect(env_->gateway_admin_port);
  ASSERT_TRUE(plain.ok());
  plain->send_all("GET /ready HTTP/1.1\r\nHost: gw\r\n\r\n");
  std::string answer = plain->read_to_end(10s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(answer.find("200"), std::string::npos) << answer;
}

TEST_F(GatewayTest, ProbePortIsReadyOnlyOnceTheGatewayHasItsCertificate) {
  // A second gateway whose join token is refused: it serves, but has no certificate.
  const fs::path token = env_->dir() / "late-gateway.token";
  std::ofstream(token) << "not-a-token";
  Process late;
  auto ports = env_->start_gateway(late, "late-gateway", token.string());
  ASSERT_TRUE(ports.ok()) << ports.error().to_string();
  const std::uint16_t admin = ports->second;
  ASSERT_TRUE(late.wait_log("certify failed", "retry_ms", 30s).ok()) << late.log();
  auto before = env_->https_get("/ready", 5s, admin);
  EXPECT_NE(before.first, 200) << before.second;
  EXPECT_TRUE(late.alive());

  // A good token: the next attempt gets the certificate and /ready turns 200.
  auto good = env_->write_token("strait-multicluster", "strait-gateway");
  ASSERT_TRUE(good.ok()) << good.error().to_string();
  fs::copy_file(*good, token, fs::copy_options::overwrite_existing);
  std::pair<int, std::string> now;
  EXPECT_TRUE(wait_until([&] { return (now = env_->https_get("/ready", 2s, admin)).first == 200; },
                         40s, 100ms))
      << now.first << " " << now.second << "\n"
      << late.log();
  late.stop();
}

TEST_F(GatewayTest, MetricsPassPromtool) {
  const std::string promtool = STRAIT_PROMTOOL;
  if (promtool.empty() || promtool.find("NOTFOUND") != std::string::npos)
    GTEST_SKIP() << "promtool not found";
  // Labelled families appear once used: one proxied connection and one refusal first.
  {
    auto c = env_->open(GatewayEnv::echo_name());
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    EXPECT_TRUE((*c)->echo("metrics\n"));
  }
  expect_refused("outside_domain", [&] {
    auto c = env_->open("echo.shop.svc.other.local:80");
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    expect_closed_without_data(**c);
  });
  auto metrics = env_->https_get("/metrics");
  ASSERT_EQ(metrics.first, 200) << metrics.second;
  EXPECT_NE(metrics.second.find("proxy_refused_total{"), std::string::npos) << metrics.second;
  EXPECT_NE(metrics.second.find("tcp_open_total{"), std::string::npos) << metrics.second;
  const fs::path file = env_->dir() / "gateway.metrics";
  std::ofstream(file) << metrics.second;
  const fs::path out = env_->dir() / "promtool.out";
  const std::string cmd =
      promtool + " check metrics < " + file.string() + " > " + out.string() + " 2>&1";
  int status = std::system(cmd.c_str());
  std::ifstream in(out);
  std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(status, 0) << report << "\n" << metrics.second;
}

TEST_F(GatewayTest, ProbePortAnswersGarbageWith400) {
  for (const char* request : {"garbage\r\n\r\n", "\r\n\r\n", "GET\r\n\r\n"}) {
    SCOPED_TRACE(request);
    auto c = TlsConn::connect(env_->gateway_admin_port, env_->contexts.without_cert);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    ASSERT_TRUE((*c)->send_all(request));
    bool closed = false;
    std::string answer = (*c)->read_to_end(5s, &closed);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400 ", 0), 0u) << answer;
    EXPECT_TRUE(closed);
  }
  auto post = TlsConn::connect(env_->gateway_admin_port, env_->contexts.without_cert);
  ASSERT_TRUE(post.ok());
  ASSERT_TRUE((*post)->send_all("POST /ready HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
  bool closed = false;
  EXPECT_EQ((*post)->read_to_end(5s, &closed).rfind("HTTP/1.1 405 ", 0), 0u);
}

TEST_F(GatewayTest, ProbePortCutsOffSlowClients) {
  auto refused = [&] {
    return std::max(0.0, metric_sum(env_->gateway_metrics(), "proxy_refused_total",
                                    {{"direction", "admin"}, {"reason", "read_timeout"}}));
  };
  const double before = refused();
  auto c = TlsConn::connect(env_->gateway_admin_port, env_->contexts.without_cert);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  const auto start = Clock::now();
  ASSERT_TRUE((*c)->send_all("GET /ready HTTP/1.1\r\nHost: gw\r\n"));  // never the final CRLF
  bool closed = false;
  std::string got = (*c)->read_to_end(12s, &closed);
  const auto took = Clock::now() - start;
  EXPECT_TRUE(closed) << "a slow client was not cut off within 12 s";
  EXPECT_EQ(got, "");
  EXPECT_LT(took, 8s);
  EXPECT_TRUE(wait_until([&] { return refused() >= before + 1; }, 5s, 50ms));

  // Meanwhile and afterwards the probe answers.
  EXPECT_EQ(env_->https_get("/ready").first, 200);
}

// ---- 4. garbage ----

TEST_F(GatewayTest, SurvivesGarbageOnBothPorts) {
  std::string plain = random_bytes(4096, 1);
  plain[0] = 'x';  // not a TLS record: plaintext
  std::string tls_junk =
      "\x16\x03\x01\x02\x00" + random_bytes(4096, 2);  // a record header, then noise

  for (std::uint16_t port : {env_->gateway_port, env_->gateway_admin_port}) {
    for (const std::string* junk : {&plain, &tls_junk}) {
      auto c = PlainConn::connect(port);
      ASSERT_TRUE(c.ok()) << c.error().to_string();
      c->send_all(*junk);
      bool closed = false;
      c->read_to_end(10s, &closed);
      EXPECT_TRUE(closed) << "port " << port << " kept a garbage connection open";
    }
  }
  // Garbage instead of a transport header, after a good handshake.
  expect_refused("bad_transport_header", [&] {
    auto c = TlsConn::connect(env_->gateway_port, env_->contexts.with_client_cert);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    (*c)->send_all(random_bytes(64, 3));
    bool closed = false;
    (*c)->read_to_end(10s, &closed);
    EXPECT_TRUE(closed);
  });
  // A header announcing more than the limit.
  expect_refused("bad_transport_header", [&] {
    auto c = TlsConn::connect(env_->gateway_port, env_->contexts.with_client_cert);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    (*c)->send_all(std::string("strt\x01\xff\xff", 7) + random_bytes(2048, 4));
    bool closed = false;
    (*c)->read_to_end(10s, &closed);
    EXPECT_TRUE(closed);
  });
  // A connection that closes halfway through its header.
  {
    auto c = TlsConn::connect(env_->gateway_port, env_->contexts.with_client_cert);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    (*c)->send_all(std::string("strt\x01\x00\x10", 7));
    (*c)->shutdown_write();
  }

  ASSERT_TRUE(env_->gateway().alive()) << "strait-gateway died";
  auto c = env_->open(GatewayEnv::echo_name());
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_TRUE((*c)->echo("still serving\n"));
  EXPECT_EQ(env_->https_get("/ready").first, 200);
}

}  // namespace
}  // namespace strait::gateway_it
