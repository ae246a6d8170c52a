// The L7 data path end to end: HTTP/1.1, HTTP/2 and gRPC from unmodified clients through a
// sidecar pair, balanced per request over three endpoints in three pods, with real peers (curl,
// grpc++, h2load, wrk, promtool). One environment for the suite (building it is most of the
// cost):
//
//   client   strait-proxy (front/client); the clients run here
//   server   web-0: testapp http :8080 "server", :8081 "server", nghttpd (h2c) :8082, grpc :50051
//   web1     the same, named web1
//   web2     the same, named web2, with :8081 100 ms slower
//
//   web  198.19.0.10:80    -> 8080 on the three pods (HTTP/1.1 only)
//   lat  198.19.0.21:80    -> 8081 (web2 slow)
//   h2   198.19.0.22:80    -> 8082 (an HTTP/2 server: a client's HTTP/2 reaches it as HTTP/2)
//   grpc 198.19.0.20:50051 -> 50051
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "tests/sidecar/integration/mesh.h"

namespace strait::sidecar_it {
namespace {

using harness::deadline_in;

constexpr const char* kGrpcVip = "198.19.0.20";
constexpr const char* kLatVip = "198.19.0.21";
constexpr const char* kH2Vip = "198.19.0.22";
const std::vector<std::string> kPods = {"server", "web1", "web2"};

std::string grpc_testapp() { return build_path("tests/tools/strait-grpc-testapp"); }

Mesh::PodApp http_app(const std::string& name, std::uint16_t port, int delay_ms = 0) {
  Mesh::PodApp a;
  a.argv = {testapp(), "http", "--listen",        "0.0.0.0:" + std::to_string(port),
            "--name",  name,   "--io-timeout-ms", "180000"};
  if (delay_ms > 0) a.argv.insert(a.argv.end(), {"--delay-ms", std::to_string(delay_ms)});
  a.port = port;
  a.name = "http" + std::to_string(port);
  return a;
}

// nghttpd serving "hello from NAME\n" as / over cleartext HTTP/2.
Mesh::PodApp h2_app(Mesh& m, const std::string& name) {
  const fs::path docs = m.dir() / ("h2-" + name);
  fs::create_directories(docs);
  std::ofstream(docs / "index.html") << "hello from " << name << "\n";
  Mesh::PodApp a;
  a.argv = {"nghttpd", "--no-tls", "-a", "0.0.0.0", "-d", docs.string(), "8082"};
  a.port = 8082;
  a.name = "h2";
  return a;
}

Mesh::PodApp grpc_app(const std::string& name) {
  Mesh::PodApp a;
  a.argv = {grpc_testapp(), "server", "--listen", "0.0.0.0:50051", "--name", name};
  a.port = 50051;
  a.name = "grpc";
  return a;
}

std::string endpoint(const std::string& service, const std::string& name, const std::string& ip,
                     int port) {
  return "---\napiVersion: strait.dev/v1alpha1\nkind: Endpoint\nmetadata: {name: " + name +
         ", namespace: shop}\nspec: {service: " + service + ", address: " + ip +
         ", port: " + std::to_string(port) + ", identity: \"" + kServerId + "\"}\n";
}

// The lines of `out` that start with `prefix`, without it. (No std::regex: GCC 12 reports
// uninitialized values inside <regex> at -O1 under the sanitizers.)
std::vector<std::string> lines_after(const std::string& out, const std::string& prefix) {
  std::vector<std::string> found;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) found.push_back(line.substr(prefix.size()));
  }
  return found;
}

// "hello from NAME" lines -> count per NAME.
std::map<std::string, int> served_by(const std::string& out) {
  std::map<std::string, int> n;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("hello from ", 0) == 0) ++n[line.substr(11)];
  }
  return n;
}

class L7Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    mesh_ = std::make_unique<Mesh>();
    if (auto r = build(*mesh_); !r) setup_error_ = r.error().to_string();
  }
  static void TearDownTestSuite() {
    if (mesh_ && (!setup_error_.empty() || failed_)) std::cerr << mesh_->logs();
    mesh_.reset();
  }
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, iptables)";
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }
  void TearDown() override {
    if (HasFailure()) failed_ = true;
  }

  static Result<void> build(Mesh& m) {
    MeshOptions options;
    options.server_extra_ports = {8081, 8082, 50051};
    if (auto r = m.up(options); !r) return r;
    for (const auto& app : {http_app("server", 8081), h2_app(m, "server"), grpc_app("server")}) {
      if (auto r = m.start_app("server", app); !r) return r;
    }
    std::map<std::string, std::string> ip{{"server", m.server_ip}};
    for (const std::string pod : {"web1", "web2"}) {
      auto added =
          m.add_server_pod(pod, {http_app(pod, 8080), http_app(pod, 8081, pod == "web2" ? 100 : 0),
                                 h2_app(m, pod), grpc_app(pod)});
      if (!added) return added.error();
      ip[pod] = *added;
    }
    std::string yaml = R"(apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: lat, namespace: shop}
spec:
  clusterIP: 198.19.0.21
  ports: [{name: http, port: 80, targetPort: 8081}]
---
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: h2, namespace: shop}
spec:
  clusterIP: 198.19.0.22
  ports: [{name: http, port: 80, targetPort: 8082}]
---
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: grpc, namespace: shop}
spec:
  clusterIP: 198.19.0.20
  ports: [{name: grpc, port: 50051, targetPort: 50051}]
)";
    // 8081 admits clients without a certificate (a client outside the mesh).
    yaml += R"(---
apiVersion: strait.dev/v1alpha1
kind: Server
metadata: {name: lat-open, namespace: shop}
spec: {podSelector: {matchLabels: {app: web}}, port: 8081}
---
apiVersion: strait.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: lat-open, namespace: shop}
spec:
  targetRef: {kind: Server, name: lat-open}
  unauthenticated: true
)";
    for (const auto& pod : kPods) {
      if (pod != "server") yaml += endpoint("web", "web-" + pod, ip[pod], 8080);
      yaml += endpoint("lat", "lat-" + pod, ip[pod], 8081);
      yaml += endpoint("h2", "h2-" + pod, ip[pod], 8082);
      yaml += endpoint("grpc", "grpc-" + pod, ip[pod], 50051);
    }
    if (auto r = m.apply(yaml); !r) return r;
    // Every endpoint of web has reached the client's proxy once each name has answered.
    std::string last;
    std::map<std::string, int> seen;
    auto all = harness::wait_until(
        [&] {
          auto out = m.run("client", {"curl", "-sS", "--max-time", "3", "http://198.19.0.10/",
                                      "http://198.19.0.10/", "http://198.19.0.10/"});
          last = out.out + out.err;
          for (const auto& [name, n] : served_by(out.out)) seen[name] += n;
          return seen.size() == 3;
        },
        deadline_in(60s), 100ms);
    if (!all) return make_error("endpoints_not_ready", "not all of web answered: " + last);
    return {};
  }

  static inline std::unique_ptr<Mesh> mesh_;
  static inline std::string setup_error_;
  static inline bool failed_ = false;
};

// 100 requests on one keep-alive connection reach every endpoint: balanced per request, not
// per connection.
TEST_F(L7Test, KeepAliveRequestsAreBalancedPerRequest) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time",
                                   "30",   "-w",  "connects %{num_connects}\n"};
  for (int i = 0; i < 100; ++i) argv.push_back(std::string("http://") + kWebVip + "/");
  auto r = mesh_->run("client", argv, 40s);
  ASSERT_TRUE(r.success()) << r.err;
  auto n = served_by(r.out);
  int total = 0;
  for (const auto& [name, count] : n) total += count;
  EXPECT_EQ(total, 100) << r.out;
  for (const auto& pod : kPods) EXPECT_GT(n[pod], 0) << pod << " got nothing:\n" << r.out;
  // One connection from curl: the first transfer connected, the other 99 reused it.
  int opened = 0;
  for (const auto& n_connects : lines_after(r.out, "connects ")) opened += std::stoi(n_connects);
  EXPECT_EQ(opened, 1) << r.out;
}

// An HTTP/2 client reaches an HTTP/2 server as HTTP/2; both proxies count the requests in the
// golden metrics. (One curl per request: curl 7.88 cannot reuse a prior-knowledge connection —
// "Error in the HTTP2 framing layer" against nghttpd directly too; per-request balancing of one
// HTTP/2 connection is the gRPC test's.)
TEST_F(L7Test, Http2PriorKnowledgeAndGoldenMetrics) {
  const std::string url = std::string("http://") + kH2Vip + "/";
  auto r = mesh_->run("client",
                      {"sh", "-c",
                       "for i in 1 2 3 4 5 6 7 8 9 10; do curl -sS --max-time 5 "
                       "--http2-prior-knowledge -w 'version %{http_version} %{http_code}\\n' " +
                           url + " || exit 1; done"},
                      60s);
  ASSERT_TRUE(r.success()) << r.out << r.err;
  auto n = served_by(r.out);
  EXPECT_EQ(n["server"] + n["web1"] + n["web2"], 10) << r.out;
  int h2_ok = 0;
  for (const auto& v : lines_after(r.out, "version ")) h2_ok += v == "2 200";
  EXPECT_EQ(h2_ok, 10) << r.out;
  EXPECT_TRUE(mesh_->wait_metric("client", "response_total",
                                 {{"direction", "outbound"},
                                  {"status_code", "200"},
                                  {"classification", "success"},
                                  {"dst_service", "h2"},
                                  {"server_id", kServerId}},
                                 1, 10s))
      << mesh_->metrics("client");
  EXPECT_TRUE(mesh_->wait_metric(
      "server", "response_total",
      {{"direction", "inbound"}, {"status_code", "200"}, {"client_id", kClientId}}, 1, 10s))
      << mesh_->metrics("server");
  EXPECT_GT(mesh_->metric("client", "request_total", {{"direction", "outbound"}}), 0);
  EXPECT_GT(mesh_->metric("client", "response_latency_ms_count", {{"direction", "outbound"}}), 0);
}

TEST_F(L7Test, ApplicationSeesTheClientIdentityAndNeverAForgedOne) {
  auto body = mesh_->curl("client", std::string("http://") + kWebVip + "/headers");
  ASSERT_TRUE(body.ok()) << body.error().to_string();
  EXPECT_NE(body->find(std::string("strait-client-id: ") + kClientId), std::string::npos) << *body;
  auto forged = mesh_->run("client", {"curl", "-sS", "--max-time", "5", "-H",
                                      "strait-client-id: spiffe://east.strait/ns/shop/sa/admin",
                                      std::string("http://") + kWebVip + "/headers"});
  ASSERT_TRUE(forged.success()) << forged.err;
  EXPECT_EQ(forged.out.find("sa/admin"), std::string::npos) << forged.out;
  EXPECT_NE(forged.out.find(std::string("strait-client-id: ") + kClientId), std::string::npos)
      << forged.out;
}

// gRPC on one client channel: calls spread over the three endpoints (balanced per call, not per
// connection), statuses and trailers arrive intact, a server-streaming call passes. The share
// of each endpoint is not asserted: Peak EWMA rightly avoids, for the seconds this test lasts,
// an endpoint whose one call stalled (CI once saw 92/1/207 after one slow first call under
// load); an even share at equal latencies is Balancer.EqualEndpointsShareTheWork's.
TEST_F(L7Test, GrpcCallsOnOneChannelSpreadOverEveryEndpoint) {
  auto r = mesh_->run("client",
                      {grpc_testapp(), "client", "--target", std::string(kGrpcVip) + ":50051",
                       "--calls", "300", "--stream-count", "5"},
                      90s);
  ASSERT_TRUE(r.success()) << r.status.to_string() << "\n" << r.out << r.err;
  int served = 0;
  for (const auto& pod : kPods) {
    auto count = lines_after(r.out, "served_by " + pod + " ");
    ASSERT_EQ(count.size(), 1u) << pod << " served nothing:\n" << r.out;
    EXPECT_GT(std::stoi(count[0]), 0) << pod << ":\n" << r.out;
    served += std::stoi(count[0]);
  }
  EXPECT_EQ(served, 300) << r.out;
  EXPECT_NE(r.out.find("errors 0"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("fail_status 3 asked to fail"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stream_replies 5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stream_status 0"), std::string::npos) << r.out;
  EXPECT_TRUE(mesh_->wait_metric("client", "response_total",
                                 {{"direction", "outbound"},
                                  {"dst_service", "grpc"},
                                  {"grpc_status", "3"},
                                  {"classification", "failure"}},
                                 1, 10s))
      << mesh_->metrics("client");
}

// Peak EWMA: the endpoint 100 ms slower than its peers is chosen clearly less often.
TEST_F(L7Test, SlowEndpointGetsFewerRequests) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "60"};
  for (int i = 0; i < 150; ++i) argv.push_back(std::string("http://") + kLatVip + "/");
  auto r = mesh_->run("client", argv, 70s);
  ASSERT_TRUE(r.success()) << r.err;
  auto n = served_by(r.out);
  EXPECT_EQ(n["server"] + n["web1"] + n["web2"], 150) << r.out;
  EXPECT_LT(n["web2"] * 3, n["server"]) << r.out;
  EXPECT_LT(n["web2"] * 3, n["web1"]) << r.out;
}

// A client outside the mesh (plaintext, redirected by strait-init) is served per request too:
// the inbound proxy detects its HTTP, and the application never sees a strait-client-id —
// neither one the client made up nor one the proxy would set for a verified identity.
TEST_F(L7Test, PlaintextClientsOutsideTheMeshAreServedAsHttp) {
  const double before =
      mesh_->metric("server", "response_total",
                    {{"direction", "inbound"}, {"tls", "false"}, {"status_code", "200"}});
  const std::string base = "http://" + mesh_->server_ip + ":8081";
  auto r = mesh_->run("plain", {"curl", "-sS", "--max-time", "5", "-H",
                                "strait-client-id: spiffe://east.strait/ns/shop/sa/admin",
                                base + "/headers", base + "/"});
  ASSERT_TRUE(r.success()) << r.err;
  EXPECT_EQ(r.out.find("strait-client-id"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hello from server"), std::string::npos) << r.out;
  EXPECT_TRUE(
      mesh_->wait_metric("server", "response_total",
                         {{"direction", "inbound"}, {"tls", "false"}, {"status_code", "200"}},
                         std::max(0.0, before) + 2, 10s))
      << mesh_->metrics("server");
}

// A WebSocket upgrade passes: after the 101 the connection is a byte relay to one endpoint.
TEST_F(L7Test, WebSocketUpgradePasses) {
  auto c = mesh_->connect("client", std::string(kWebVip) + ":80");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_TRUE(
      c->send_all("GET /chat HTTP/1.1\r\nHost: web\r\nConnection: Upgrade\r\n"
                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  std::string head;
  bool ok = true;
  while (head.find("\r\n\r\n") == std::string::npos && ok) head += c->read_n(1, 5s, &ok);
  ASSERT_TRUE(ok) << head;
  EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  EXPECT_NE(head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos) << head;
  EXPECT_TRUE(c->echo("frames are just bytes now"));
  EXPECT_TRUE(c->echo(std::string(100000, 'w'), 10s));
}

// Real load generators through the pair: no errors.
TEST_F(L7Test, H2loadAndWrkThroughThePair) {
  auto h2 = mesh_->run("client",
                       {"h2load", "-n", "2000", "-c", "4", "-m", "10", "-T", "10",
                        std::string("http://") + kH2Vip + "/"},
                       60s);
  EXPECT_TRUE(h2.success()) << h2.out << h2.err;
  EXPECT_NE(h2.out.find("2000 succeeded, 0 failed, 0 errored"), std::string::npos) << h2.out;
  auto wrk = mesh_->run(
      "client",
      {"wrk", "-t1", "-c10", "-d3s", "--timeout", "5s", std::string("http://") + kWebVip + "/"},
      30s);
  EXPECT_TRUE(wrk.success()) << wrk.out << wrk.err;
  EXPECT_EQ(wrk.out.find("Socket errors"), std::string::npos) << wrk.out;
  EXPECT_EQ(wrk.out.find("Non-2xx"), std::string::npos) << wrk.out;
  // "  12345 requests in 3.00s, ..."
  const auto at = wrk.out.find(" requests in ");
  ASSERT_NE(at, std::string::npos) << wrk.out;
  const auto start = wrk.out.find_last_not_of("0123456789", at - 1) + 1;
  EXPECT_GT(std::stoi(wrk.out.substr(start, at - start)), 100) << wrk.out;
}

TEST_F(L7Test, EveryProxysMetricsPassPromtool) {
  for (const auto& pod : {"client", "server", "web1", "web2"}) {
    auto r = mesh_->run(
        pod, {"sh", "-c", strait::testing::promtool_check_command("http://127.0.0.1:4191/metrics")},
        30s);
    EXPECT_TRUE(r.success()) << pod << ": " << r.out << r.err;
  }
}

}  // namespace
}  // namespace strait::sidecar_it
