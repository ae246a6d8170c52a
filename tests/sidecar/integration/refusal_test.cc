// Refused and counted: an identity the inbound policy does not list, a client certificate from
// another CA, a plaintext stranger on a port that requires identities, garbage bytes and an
// oversized transport header inside a real mTLS session. Each time the proxy keeps serving.
#include <fstream>
#include <random>

#include "tests/sidecar/integration/mesh.h"

namespace strait::sidecar_it {
namespace {

using harness::deadline_in;

std::string policy_yaml(const std::string& identity_pattern) {
  return R"(apiVersion: strait.dev/v1alpha1
kind: Server
metadata: {name: web-http, namespace: shop}
spec: {podSelector: {matchLabels: {app: web}}, port: 8080}
---
apiVersion: strait.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: web-authz, namespace: shop}
spec:
  targetRef: {kind: Server, name: web-http}
  requiredAuthentication:
    identities: [")" +
         identity_pattern + R"("]
)";
}

// openssl on the host; the test fails with its output when it does.
bool openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = harness::exec_in("", argv, 30s);
  EXPECT_TRUE(r && r->success()) << args[0] << ": "
                                 << (r ? r->out + r->err : r.error().to_string());
  return r && r->success();
}

// A P-256 client certificate for `uri`, signed by ca_crt/ca_key, in dir/<name>.{crt,key}.
bool make_leaf(const fs::path& dir, const std::string& name, const std::string& uri,
               const fs::path& ca_crt, const fs::path& ca_key) {
  const auto ext = dir / (name + ".ext");
  std::ofstream(ext)
      << "subjectAltName=URI:" << uri
      << "\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth,serverAuth\n"
         "basicConstraints=critical,CA:FALSE\n";
  const auto key = (dir / (name + ".key")).string(), csr = (dir / (name + ".csr")).string();
  return openssl({"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key}) &&
         openssl({"req", "-new", "-key", key, "-subj", "/CN=" + name, "-out", csr}) &&
         openssl({"x509", "-req", "-in", csr, "-CA", ca_crt.string(), "-CAkey", ca_key.string(),
                  "-CAcreateserial", "-days", "1", "-extfile", ext.string(), "-out",
                  (dir / (name + ".crt")).string()});
}

class RefusalTest : public MeshTest {};

TEST_F(RefusalTest, PolicyRefusesUnlistedIdentitiesAndPlaintextStrangers) {
  ASSERT_OK(mesh_->up());
  auto& m = *mesh_;
  const std::string url = std::string("http://") + kWebVip + "/";

  // (a) Only spiffe://east.strait/ns/other/* may call web:8080; the client is front/client.
  // HTTP requests are checked one by one, so the change applies to the next request even on
  // the HTTP/2 connection the client's proxy already holds: 403 with the reason.
  ASSERT_OK(m.apply(policy_yaml("spiffe://east.strait/ns/other/*")));
  std::string last;
  EXPECT_TRUE(
      harness::wait_until(
          [&] {
            auto r = m.run("client", {"curl", "-sS", "--max-time", "3", "-w", "%{http_code}", url});
            last = r.out + r.err;
            return r.success() && r.out == "identity_not_allowed\n403";
          },
          deadline_in(20s), 200ms)
          .ok())
      << "still allowed: " << last;
  EXPECT_TRUE(m.wait_metric("server", "inbound_http_authz_deny_total",
                            {{"target_port", "8080"},
                             {"server", "web-http"},
                             {"reason", "identity_not_allowed"},
                             {"client_id", kClientId}},
                            1, 10s))
      << m.metrics("server");
  // The refusal is for that port only: echo (no Server, cluster default) still works.
  auto echo = m.run("client", {testapp(), "echo-client", "--connect",
                               std::string(kEchoVip) + ":9000", "--message", "still here"});
  EXPECT_TRUE(echo.success()) << echo.err;

  // Allow the client's namespace: the same request goes through.
  ASSERT_OK(m.apply(policy_yaml("spiffe://east.strait/ns/front/*")));
  EXPECT_TRUE(harness::wait_until(
                  [&] {
                    auto r = m.curl("client", url, 3s);
                    last = r ? *r : r.error().message;
                    return r && *r == "hello from server\n";
                  },
                  deadline_in(20s), 200ms)
                  .ok())
      << "still refused: " << last;
  EXPECT_GE(m.metric("server", "inbound_http_authz_allow_total",
                     {{"target_port", "8080"}, {"server", "web-http"}, {"client_id", kClientId}}),
            1);

  // (c) A pod without proxy talks plaintext to the server's port 8080: strait-init sends it to the
  // proxy, which finds no identity and closes without ever reaching the application.
  const double before =
      m.metric("server", "inbound_tcp_authz_deny_total", {{"reason", "unauthenticated"}});
  auto stranger = m.connect("plain", m.server_ip + ":8080");
  ASSERT_OK(stranger);
  ASSERT_TRUE(stranger->send_all("GET / HTTP/1.1\r\nHost: web\r\n\r\n"));
  bool closed = false;
  std::string got = stranger->read_to_end(10s, &closed);
  EXPECT_TRUE(closed) << "the proxy kept the stranger's connection open";
  EXPECT_EQ(got, "") << "the application answered a plaintext stranger";
  EXPECT_TRUE(m.wait_metric("server", "inbound_tcp_authz_deny_total",
                            {{"target_port", "8080"},
                             {"server", "web-http"},
                             {"reason", "unauthenticated"},
                             {"client_id", ""}},
                            std::max(before, 0.0) + 1, 10s))
      << m.metrics("server");
  // ... and the same port still serves the meshed client.
  auto again = m.curl("client", url);
  ASSERT_OK(again);
  EXPECT_EQ(*again, "hello from server\n");
}

TEST_F(RefusalTest, ForeignCaCertificatesGarbageAndOversizedHeadersAreRefused) {
  ASSERT_OK(mesh_->up());
  auto& m = *mesh_;
  const fs::path d = m.dir() / "certs";
  fs::create_directories(d);
  const std::string target = m.server_ip + ":4143";
  const fs::path anchor = m.state_dir() / "ca" / "anchor.crt";

  // A root of our own, and a certificate claiming the client's identity under it.
  ASSERT_TRUE(openssl({"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                       (d / "rogue-ca.key").string()}));
  ASSERT_TRUE(openssl({"req", "-x509", "-new", "-key", (d / "rogue-ca.key").string(), "-subj",
                       "/CN=rogue root", "-days", "1", "-out", (d / "rogue-ca.crt").string()}));
  ASSERT_TRUE(make_leaf(d, "rogue", kClientId, d / "rogue-ca.crt", d / "rogue-ca.key"));
  // The control: a certificate from the cluster's own issuer (as the controller would sign).
  ASSERT_TRUE(make_leaf(d, "good", kClientId, m.state_dir() / "ca" / "issuer.crt",
                        m.state_dir() / "ca" / "issuer.key"));

  // A transport header with a valid magic and version and a body length of 60000, then filler.
  {
    std::string h = "strt";
    h.push_back(1);
    h.push_back(static_cast<char>(60000 >> 8));
    h.push_back(static_cast<char>(60000 & 0xff));
    h += std::string(60000, 'A');
    std::ofstream(d / "oversized.bin", std::ios::binary) << h;
  }
  auto s_client = [&](const std::string& name) {
    std::string cmd = "openssl s_client -connect " + target + " -tls1_3 -quiet -CAfile " +
                      anchor.string() + " -cert " + (d / (name + ".crt")).string() + " -key " +
                      (d / (name + ".key")).string();
    if (name == "good") cmd += " -cert_chain " + (m.state_dir() / "ca" / "issuer.crt").string();
    return m.run("plain", {"sh", "-c", cmd + " < " + (d / "oversized.bin").string() + " 2>&1"},
                 20s);
  };

  // (b) The rogue certificate: the handshake fails and is counted.
  auto rogue = s_client("rogue");
  EXPECT_FALSE(rogue.timed_out) << "the proxy did not close the connection of a foreign client";
  EXPECT_TRUE(m.wait_metric("server", "proxy_refused_total",
                            {{"direction", "inbound"}, {"reason", "tls_handshake_failed"}}, 1, 10s))
      << rogue.out << "\n"
      << m.metrics("server");
  EXPECT_LE(m.metric("server", "proxy_refused_total",
                     {{"direction", "inbound"}, {"reason", "bad_transport_header"}}),
            0)
      << "a certificate from another CA got past the handshake";

  // (8) The trusted certificate gets through the handshake, and then the oversized header is
  // refused.
  auto good = s_client("good");
  EXPECT_FALSE(good.timed_out) << "the proxy did not close a connection with an oversized header";
  EXPECT_TRUE(m.wait_metric("server", "proxy_refused_total",
                            {{"direction", "inbound"}, {"reason", "bad_transport_header"}}, 1, 10s))
      << good.out << "\n"
      << m.metrics("server");
  EXPECT_EQ(m.metric("server", "proxy_refused_total",
                     {{"direction", "inbound"}, {"reason", "tls_handshake_failed"}}),
            1)
      << "the cluster's own certificate failed the handshake:\n"
      << good.out;

  // (8) Random bytes to the inbound port (not starting like TLS) and to the admin port.
  std::mt19937 rng(7);
  std::string garbage(8192, '\0');
  for (auto& c : garbage) c = static_cast<char>(rng());
  garbage[0] = 0x01;
  {
    auto c = m.connect("plain", target);
    ASSERT_OK(c);
    c->send_all(garbage);
    bool closed = false;
    c->read_to_end(10s, &closed);
    EXPECT_TRUE(closed);
  }
  EXPECT_TRUE(m.wait_metric("server", "proxy_refused_total",
                            {{"direction", "inbound"}, {"reason", "plaintext_to_proxy_port"}}, 1,
                            10s))
      << m.metrics("server");
  // Random bytes that start like a TLS handshake record.
  garbage[0] = 0x16;
  {
    auto c = m.connect("plain", target);
    ASSERT_OK(c);
    c->send_all(garbage);
    bool closed = false;
    c->read_to_end(10s, &closed);
    EXPECT_TRUE(closed);
  }
  EXPECT_TRUE(m.wait_metric("server", "proxy_refused_total",
                            {{"direction", "inbound"}, {"reason", "tls_handshake_failed"}}, 2, 10s))
      << m.metrics("server");
  const double admin_before = m.metric("server", "admin_requests_refused_total");
  {
    auto c = m.connect("plain", m.server_ip + ":4191");
    ASSERT_OK(c);
    c->send_all(garbage);
    bool closed = false;
    c->read_to_end(10s, &closed);
    EXPECT_TRUE(closed);
  }
  EXPECT_TRUE(m.wait_metric("server", "admin_requests_refused_total", {}, admin_before + 1, 10s))
      << m.metrics("server");

  // Still serving: a good request through the mesh, and the admin server.
  auto body = m.curl("client", std::string("http://") + kWebVip + "/");
  ASSERT_OK(body);
  EXPECT_EQ(*body, "hello from server\n");
  EXPECT_TRUE(
      m.h()
          .wait_for_http_ok("east/plain", "http://" + m.server_ip + ":4191/ready", deadline_in(5s))
          .ok());
  EXPECT_TRUE(m.server_proxy().running());
}

}  // namespace
}  // namespace strait::sidecar_it
