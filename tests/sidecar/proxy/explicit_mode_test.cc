// Explicit mode end to end, on loopback without root: the gateway tests' cluster (GatewayEnv: a
// real controller, its CA, straitctl) plus a "web" workload whose HTTP app listens on its own
// address (127.0.0.23) behind a server proxy with inbound.forwardAddress set to it, and a client
// proxy with listen.explicit (127.0.0.24). curl --proxytunnel reaches the app through mTLS; a
// CONNECT to a service without ready endpoints fails fast with 503; bad requests get their
// status and are counted by reason.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>

#include "tests/gateway/gateway_env.h"

namespace strait::gateway_it {
namespace {

constexpr const char* kAppIp = "127.0.0.23";       // web's own address: app and inbound proxy
constexpr const char* kExplicitIp = "127.0.0.24";  // the client proxy's explicit listener
constexpr const char* kWebVip = "198.19.1.77";     // web.shop, with a ready endpoint
constexpr const char* kVoidVip = "198.19.1.78";    // void.shop, no endpoint at all
constexpr const char* kDeadVip = "198.19.1.79";    // dead.shop: an endpoint nobody serves
constexpr const char* kDeadIp = "127.0.0.25";
constexpr const char* kWebId = "spiffe://east.strait/ns/shop/sa/web";
constexpr const char* kCurlClientId = "spiffe://east.strait/ns/shop/sa/curl";
constexpr auto kFailFast = 1000ms;
constexpr auto kHandshake = 2000ms;

// A TCP connection to any loopback address, blocking I/O bounded by timeouts.
class Conn {
 public:
  static std::unique_ptr<Conn> open(const std::string& ip, std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (fd >= 0) ::close(fd);
      return nullptr;
    }
    return std::unique_ptr<Conn>(new Conn(fd));
  }
  ~Conn() { ::close(fd_); }
  bool send(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Until EOF or error (closed=true), or the timeout.
  std::string read_to_end(std::chrono::milliseconds timeout, bool* closed = nullptr) {
    auto until = Clock::now() + timeout;
    std::string out;
    bool eof = false;
    char buf[16384];
    while (!eof) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) eof = true;
      if (n > 0) out.append(buf, static_cast<std::size_t>(n));
    }
    if (closed) *closed = eof;
    return out;
  }

 private:
  explicit Conn(int fd) : fd_(fd) {}
  int fd_;
};

std::string http_get(std::uint16_t port, const std::string& path) {
  auto c = Conn::open("127.0.0.1", port);
  if (!c || !c->send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    return "";
  return c->read_to_end(5s);
}

// A program's combined output and exit code (curl is bounded by its own --max-time).
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

class ExplicitMode : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new GatewayEnv();
    auto r = bring_up();
    if (!r) setup_error_ = new std::string(r.error().to_string() + "\n" + logs());
  }
  static void TearDownTestSuite() {
    server_proxy_.reset();
    client_proxy_.reset();
    app_.reset();
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    if (setup_error_) FAIL() << "environment: " << *setup_error_;
  }

  static std::string logs() {
    std::string out = env_ ? env_->logs() : "";
    for (auto* p : {app_.get(), server_proxy_.get(), client_proxy_.get()}) {
      if (p) out += "===== " + p->log_path().filename().string() + " =====\n" + p->log() + "\n";
    }
    return out;
  }

  static Result<void> bring_up() {
    if (auto r = env_->up(); !r) return r;
    const auto dir = env_->dir();

    app_ = std::make_unique<Process>();
    if (auto r = app_->start({std::string(STRAIT_BUILD_DIR) + "/tests/tools/strait-testapp", "http",
                              "--listen", std::string(kAppIp) + ":0", "--name", "web"},
                             dir / "web-app.log");
        !r) {
      return r;
    }
    auto port = app_->wait_log(std::string("listening ") + kAppIp + ":", "", 15s);
    if (!port) return port.error();
    app_port_ = static_cast<std::uint16_t>(std::stoi(*port));

    const std::string ap = std::to_string(app_port_);
    auto applied =
        env_->apply(R"(apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: )" + std::string(kWebVip) +
                    R"(
  ports: [{name: http, port: 80, targetPort: )" +
                    ap + R"(}]
---
apiVersion: strait.dev/v1alpha1
kind: Endpoint
metadata: {name: web-0, namespace: shop}
spec: {service: web, address: )" +
                    std::string(kAppIp) + ", port: " + ap + R"(, identity: ")" + kWebId + R"("}
---
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: void, namespace: shop}
spec:
  clusterIP: )" + std::string(kVoidVip) +
                    R"(
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: dead, namespace: shop}
spec:
  clusterIP: )" + std::string(kDeadVip) +
                    R"(
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: strait.dev/v1alpha1
kind: Endpoint
metadata: {name: dead-0, namespace: shop}
spec: {service: dead, address: )" +
                    std::string(kDeadIp) + R"(, port: 8080, identity: ")" + kWebId + R"("}
)");
    if (!applied) return applied.error();

    // Every meshed endpoint's proxy port is the cluster's inboundProxyPort: web's proxy takes it
    // on web's own address.
    const std::string server_extra = "  inbound: " + std::string(kAppIp) + ":" +
                                     std::to_string(env_->target_proxy_port) +
                                     "\ninbound:\n  forwardAddress: " + kAppIp + "\n";
    auto server = start_proxy(*server_proxy_, "web-proxy", "shop", "web", server_extra);
    if (!server) return server.error();
    server_admin_ = server->first;

    const std::string client_extra =
        "  inbound: 127.0.0.1:0\n  explicit: " + std::string(kExplicitIp) +
        ":0\ntimeouts:\n  failFast: 1s\n  handshake: 2s\n";
    auto client = start_proxy(*client_proxy_, "curl-proxy", "shop", "curl", client_extra);
    if (!client) return client.error();
    std::tie(client_admin_, explicit_port_) = *client;
    if (explicit_port_ == 0) return make_error("no_explicit_port", "explicit_port=0 logged");

    for (auto admin : {server_admin_, client_admin_}) {
      if (!wait_until([&] { return http_get(admin, "/ready").rfind("HTTP/1.1 200", 0) == 0; }, 30s,
                      50ms)) {
        return make_error("not_ready", "a proxy is not ready: " + http_get(admin, "/ready"));
      }
    }
    return {};
  }

  // A proxy of this cluster; `extra` continues the listen: section. Its admin and explicit ports.
  static Result<std::pair<std::uint16_t, std::uint16_t>> start_proxy(Process& p,
                                                                     const std::string& name,
                                                                     const std::string& ns,
                                                                     const std::string& sa,
                                                                     const std::string& extra) {
    auto token = env_->write_token(ns, sa);
    if (!token) return token.error();
    const auto yaml = env_->dir() / (name + ".yaml");
    {
      std::ofstream out(yaml);
      out << "identity:\n  trustDomain: " << kTrustDomain << "\n  namespace: " << ns
          << "\n  serviceAccount: " << sa << "\n  tokenFile: " << *token
          << "\n  trustAnchors: " << (env_->dir() / "state" / "ca" / "anchor.crt").string()
          << "\ncontroller:\n  identity: " << env_->identity_address
          << "\n  destination: " << env_->destination_address << "\ncluster:\n  name: " << kCluster
          << "\nlisten:\n  outbound: 127.0.0.1:0\n  admin: 127.0.0.1:0\n"
          << extra;
    }
    if (auto r = p.start({std::string(STRAIT_BUILD_DIR) + "/sidecar/proxy/strait-proxy", "--config",
                          yaml.string()},
                         env_->dir() / (name + ".log"));
        !r) {
      return r.error();
    }
    auto admin = p.wait_log("proxy serving", "admin_port", 30s);
    if (!admin) return admin.error();
    auto ex = p.wait_log("proxy serving", "explicit_port", 5s);
    if (!ex) return ex.error();
    return std::pair{static_cast<std::uint16_t>(std::stoi(*admin)),
                     static_cast<std::uint16_t>(std::stoi(*ex))};
  }

  static double client_refused(const std::string& reason) {
    return std::max(0.0, metric_sum(http_get(client_admin_, "/metrics"), "proxy_refused_total",
                                    {{"direction", "outbound"}, {"reason", reason}}));
  }
  static std::string curl(const std::string& url) {
    return "curl -sS --max-time 10 --noproxy '' --proxytunnel -x http://" +
           std::string(kExplicitIp) + ":" + std::to_string(explicit_port_) + " " + url;
  }
  // A raw request to the explicit listener: the whole answer (the proxy closes after refusing).
  static std::string raw(const std::string& request, std::chrono::milliseconds wait = 5s) {
    auto c = Conn::open(kExplicitIp, explicit_port_);
    if (!c) return "<connect failed>";
    c->send(request);
    return c->read_to_end(wait);
  }

  static inline GatewayEnv* env_ = nullptr;
  static inline std::string* setup_error_ = nullptr;
  static inline std::unique_ptr<Process> app_;
  static inline std::unique_ptr<Process> server_proxy_ = std::make_unique<Process>();
  static inline std::unique_ptr<Process> client_proxy_ = std::make_unique<Process>();
  static inline std::uint16_t app_port_ = 0, server_admin_ = 0, client_admin_ = 0,
                              explicit_port_ = 0;
};

TEST_F(ExplicitMode, CurlReachesTheAppAtItsForwardAddressThroughMtls) {
  // The app is only on its own address: the default forward address (loopback) would miss it.
  EXPECT_EQ(Conn::open("127.0.0.1", app_port_), nullptr);

  auto [code, out] = run(curl(std::string("http://") + kWebVip + "/"));
  ASSERT_EQ(code, 0) << out << "\n" << logs();
  EXPECT_EQ(out, "hello from web\n");

  // The server proxy accepted it over mTLS from the client proxy's identity...
  const std::string server = http_get(server_admin_, "/metrics");
  EXPECT_GE(metric_sum(server, "tcp_open_total",
                       {{"direction", "inbound"}, {"tls", "true"}, {"client_id", kCurlClientId}}),
            1)
      << server;
  // ... and the client proxy counted an outbound, meshed connection to web.
  const std::string client = http_get(client_admin_, "/metrics");
  EXPECT_GE(metric_sum(client, "tcp_open_total",
                       {{"direction", "outbound"},
                        {"tls", "true"},
                        {"server_id", kWebId},
                        {"dst_service", "web"},
                        {"dst_namespace", "shop"}}),
            1)
      << client;
}

TEST_F(ExplicitMode, BytesSentRightAfterConnectAreNotLost) {
  std::string out = raw(std::string("CONNECT ") + kWebVip + ":80 HTTP/1.1\r\nHost: " + kWebVip +
                        ":80\r\n\r\nGET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n");
  const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
  ASSERT_EQ(out.rfind(ok, 0), 0u) << out << logs();
  EXPECT_EQ(out.substr(ok.size()).rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find("hello from web"), std::string::npos) << out;
}

TEST_F(ExplicitMode, NoReadyEndpointFailsFastWith503) {
  const double before = client_refused("no_ready_endpoints");
  auto start = Clock::now();
  auto [code, out] = run(curl(std::string("http://") + kVoidVip + "/"));
  auto took = Clock::now() - start;
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("503"), std::string::npos) << out;
  EXPECT_GE(took, kFailFast - 100ms);
  EXPECT_LT(took, kFailFast + 4s);

  std::string answer = raw(std::string("CONNECT ") + kVoidVip + ":80 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("\r\n\r\nno_ready_endpoints: " + std::string(kVoidVip) + ":80"),
            std::string::npos)
      << answer;
  EXPECT_TRUE(wait_until([&] { return client_refused("no_ready_endpoints") >= before + 2; }, 5s));
}

// The fail-fast queue is bounded: with limits.failFastQueue 2 (and a fail-fast wait long enough
// to see it), two CONNECTs to a service without endpoints wait, and the third is refused at
// once with 503 queue_full, counted by reason; the queue's depth is a gauge.
TEST_F(ExplicitMode, TheWaitForAReadyEndpointIsABoundedQueue) {
  constexpr const char* kQueueIp = "127.0.0.26";
  Process proxy;
  auto started = start_proxy(proxy, "queue-proxy", "shop", "curl",
                             std::string("  inbound: 127.0.0.1:0\n  explicit: ") + kQueueIp +
                                 ":0\ntimeouts:\n  failFast: 60s\nlimits:\n  failFastQueue: 2\n");
  ASSERT_TRUE(started) << started.error().to_string() << "\n" << proxy.log();
  const auto [admin, port] = *started;
  auto metrics = [admin = admin] { return http_get(admin, "/metrics"); };
  ASSERT_TRUE(wait_until([&] { return http_get(admin, "/ready").rfind("HTTP/1.1 200", 0) == 0; },
                         30s, 50ms))
      << proxy.log();
  const std::string connect = std::string("CONNECT ") + kVoidVip + ":80 HTTP/1.1\r\n\r\n";

  std::vector<std::unique_ptr<Conn>> waiting;
  for (int i = 0; i < 2; ++i) {
    waiting.push_back(Conn::open(kQueueIp, port));
    ASSERT_TRUE(waiting.back() && waiting.back()->send(connect));
  }
  ASSERT_TRUE(
      wait_until([&] { return metric_sum(metrics(), "endpoint_wait_queue", {}) == 2; }, 20s))
      << metrics() << proxy.log();

  auto third = Conn::open(kQueueIp, port);
  ASSERT_TRUE(third && third->send(connect));
  const auto start = Clock::now();
  bool closed = false;
  const std::string answer = third->read_to_end(20s, &closed);
  EXPECT_LT(Clock::now() - start, 10s);  // not the 60 s fail-fast wait
  EXPECT_TRUE(closed);
  EXPECT_EQ(answer.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("queue_full"), std::string::npos) << answer;
  EXPECT_TRUE(wait_until(
      [&] {
        return metric_sum(metrics(), "proxy_refused_total",
                          {{"direction", "outbound"}, {"reason", "queue_full"}}) == 1;
      },
      5s))
      << metrics();
  // The two in the queue are still waiting: the refusal did not disturb them.
  EXPECT_EQ(metric_sum(metrics(), "endpoint_wait_queue", {}), 2) << metrics();
}

// A port the service does not declare is refused at once (it was served: web.shop declares 80,
// yet its virtual IP answered on 8080), and counted; a leading zero is not another spelling of
// a port.
TEST_F(ExplicitMode, UndeclaredServicePortsAreRefusedAtOnce) {
  const double before = client_refused("undeclared_port");
  const double waited = client_refused("no_ready_endpoints");
  for (const char* port : {"8080", "81"}) {
    std::string answer = raw(std::string("CONNECT ") + kWebVip + ":" + port + " HTTP/1.1\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << answer;
    EXPECT_NE(answer.find("\r\n\r\nundeclared_port: "), std::string::npos) << answer;
  }
  EXPECT_TRUE(wait_until([&] { return client_refused("undeclared_port") >= before + 2; }, 5s));
  EXPECT_EQ(client_refused("no_ready_endpoints"), waited);
  std::string zero = raw(std::string("CONNECT ") + kWebVip + ":080 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(zero.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << zero;
}

TEST_F(ExplicitMode, UnreachableEndpointIs502) {
  std::string answer = raw(std::string("CONNECT ") + kDeadVip + ":80 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("\r\n\r\nconnect_refused: "), std::string::npos) << answer;
  const std::string client = http_get(client_admin_, "/metrics");
  EXPECT_GE(metric_sum(
                client, "tcp_close_total",
                {{"direction", "outbound"}, {"dst_service", "dead"}, {"error", "connect_refused"}}),
            1)
      << client;
}

struct BadRequest {
  const char* name;
  std::string request;
  const char* status_line;
  const char* reason;
};

TEST_F(ExplicitMode, BadRequestsAreRefusedWithTheirStatusAndCounted) {
  const std::vector<BadRequest> cases = {
      {"garbage", "hello there\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n", "bad_connect_request"},
      {"tls", std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11) + "\r\n\r\n",
       "HTTP/1.1 400 Bad Request\r\n", "bad_connect_request"},
      {"name", "CONNECT web.shop.svc.cluster.local:80 HTTP/1.1\r\n\r\n",
       "HTTP/1.1 400 Bad Request\r\n", "bad_connect_request"},
      {"get", std::string("GET http://") + kWebVip + "/ HTTP/1.1\r\nHost: web\r\n\r\n",
       "HTTP/1.1 405 Method Not Allowed\r\n", "not_connect"},
      {"oversized",
       std::string("CONNECT ") + kWebVip + ":80 HTTP/1.1\r\nX-Big: " + std::string(20000, 'a'),
       "HTTP/1.1 431 Request Header Fields Too Large\r\n", "connect_headers_too_large"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const double before = client_refused(c.reason);
    bool closed = false;
    auto conn = Conn::open(kExplicitIp, explicit_port_);
    ASSERT_NE(conn, nullptr);
    conn->send(c.request);
    std::string answer = conn->read_to_end(5s, &closed);
    EXPECT_TRUE(closed) << "the proxy closes after refusing";
    EXPECT_EQ(answer.rfind(c.status_line, 0), 0u) << answer;
    EXPECT_NE(answer.find("\r\n\r\n" + std::string(c.reason) + ": "), std::string::npos) << answer;
    EXPECT_TRUE(wait_until([&] { return client_refused(c.reason) >= before + 1; }, 5s))
        << client_refused(c.reason);
  }
  // The refusals are logged with their reason.
  EXPECT_NE(client_proxy_->log().find("not_connect"), std::string::npos);

  // curl's GET through the proxy without --proxytunnel is a 405 too.
  auto [code, out] = run(
      "curl -sS --max-time 10 --noproxy '' -o /dev/null -w '%{http_code}' -x "
      "http://" +
      std::string(kExplicitIp) + ":" + std::to_string(explicit_port_) + " http://" + kWebVip + "/");
  EXPECT_EQ(out, "405") << out;
}

TEST_F(ExplicitMode, IncompleteRequestTimesOutWith408) {
  const double before = client_refused("connect_request_timeout");
  auto start = Clock::now();
  std::string answer = raw(std::string("CONNECT ") + kWebVip + ":80 HTTP/1.1\r\nHost: w", 10s);
  auto took = Clock::now() - start;
  EXPECT_EQ(answer.rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u) << answer;
  EXPECT_GE(took, kHandshake - 100ms);
  EXPECT_LT(took, kHandshake + 4s);
  EXPECT_TRUE(
      wait_until([&] { return client_refused("connect_request_timeout") >= before + 1; }, 5s));
}

}  // namespace
}  // namespace strait::gateway_it
