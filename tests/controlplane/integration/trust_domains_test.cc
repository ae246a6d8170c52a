// Separate trust domains end to end: two clusters installed independently with `straitctl
// install` (east.strait and west.strait, each its own anchor), their controllers, and the real
// data plane of east (a strait-proxy in front of an echo app, a strait-gateway) plus a
// strait-proxy of west. A Link in east carrying west's trust domain and bundle is what lets
// east's proxies accept west's identities (inbound) and verify west's servers (outbound) — and
// only identities of west's trust domain. Loopback, free ports, every wait with a deadline;
// everything is stopped and removed on failure too.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "controlplane/client/certify.h"
#include "controlplane/server/controller_config.h"
#include "controlplane/server/state_files.h"
#include "core/discovery/json_codec.h"
#include "core/tls/authority.h"
#include "core/tls/csr.h"
#include "core/tls/key.h"
#include "sidecar/proxy/transport_header.h"
#include "strait/policy.grpc.pb.h"
#include "strait/trust.grpc.pb.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/controlplane/integration/stream_reader.h"
#include "tests/gateway/gateway_env.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace tv = trust::v1;
using gateway_it::metric_sum;
using gateway_it::Process;
using gateway_it::TlsConn;

const char* kWestEcho = "spiffe://west.strait/ns/shop/sa/echo";

std::string build_path(const std::string& rel) { return std::string(STRAIT_BUILD_DIR) + "/" + rel; }

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A client TLS context: this certificate and chain, verifying servers against `anchor_pem`.
Result<tls::ContextPtr> client_context(const tls::Certificate& leaf,
                                       std::vector<tls::Certificate> chain,
                                       const tls::PrivateKey& key, const std::string& anchor_pem) {
  auto bundle = tls::TrustBundle::from_pem(anchor_pem);
  if (!bundle) return bundle.error();
  tls::Credentials creds{leaf, std::move(chain), key};
  return tls::make_client_context(&creds, *bundle);
}

Result<tls::ContextPtr> client_context(const WorkloadCredentials& w,
                                       const std::string& anchor_pem) {
  auto leaf = tls::Certificate::from_pem(w.cert_pem);
  if (!leaf) return leaf.error();
  auto key = tls::PrivateKey::from_pem(w.key_pem);
  if (!key) return key.error();
  std::vector<tls::Certificate> chain;
  for (const auto& pem : w.chain_pem) {
    auto c = tls::Certificate::from_pem(pem);
    if (!c) return c.error();
    chain.push_back(*c);
  }
  return client_context(*leaf, std::move(chain), *key, anchor_pem);
}

// A certificate for any identity, signed by the issuer in `state_dir` (what a cluster's CA
// could sign, whatever its controller would refuse).
Result<tls::ContextPtr> forged_context(const fs::path& state_dir, const std::string& id_text,
                                       const std::string& server_anchor_pem) {
  auto cert = read_file(state_dir / "ca" / "issuer.crt");
  auto key = read_file(state_dir / "ca" / "issuer.key");
  if (!cert || !key) return make_error("io_error", "cannot read the issuer");
  auto issuer = tls::CertificateAuthority::from_pem(*cert, *key, "");
  if (!issuer) return issuer.error();
  auto id = identity::SpiffeId::parse(id_text);
  if (!id) return id.error();
  auto leaf_key = tls::PrivateKey::generate_p256();
  if (!leaf_key) return leaf_key.error();
  auto csr_pem = tls::make_csr(*leaf_key, *id);
  if (!csr_pem) return csr_pem.error();
  auto csr = tls::CertificateRequest::from_pem(*csr_pem);
  if (!csr) return csr.error();
  auto leaf = issuer->issue_leaf(*csr, *id, std::chrono::hours(1));
  if (!leaf) return leaf.error();
  return client_context(*leaf, issuer->chain(), *leaf_key, server_anchor_pem);
}

// A TLS connection that has sent its transport header.
Result<std::unique_ptr<TlsConn>> open(std::uint16_t port, tls::ContextPtr context,
                                      std::uint16_t target_port, const std::string& name = "") {
  auto c = TlsConn::connect(port, std::move(context), 5s);
  if (!c) return c.error();
  proxy::TransportHeader h;
  h.target_port = target_port;
  h.target_name = name;
  auto bytes = h.encode();
  if (!bytes) return bytes.error();
  if (!(*c)->send_all(*bytes, 3s)) return make_error("write_failed", "the transport header");
  return c;
}

// One new connection: does a message come back through it?
bool echoes(std::uint16_t port, const tls::ContextPtr& context, std::uint16_t target_port,
            const std::string& name = "") {
  auto c = open(port, context, target_port, name);
  return c && (*c)->echo("across trust domains", 3s);
}

class TrustDomainsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    west_proxy_port_ = free_port();
    // East hands out west_proxy_port_ as every meshed endpoint's proxy port: its gateway then
    // reaches the west-certified endpoint below on west's proxy.
    east_ = std::make_unique<ControllerProcess>(ControllerOptions{
        .cluster = "east",
        .trust_domain = "east.strait",
        .flags = {"--cluster.inboundProxyPort=" + std::to_string(west_proxy_port_)}});
    west_ = std::make_unique<ControllerProcess>(
        ControllerOptions{.cluster = "west", .trust_domain = "west.strait", .flags = {}});
    for (auto* c : {east_.get(), west_.get()}) {
      auto installed = straitctl_install(*c);
      ASSERT_TRUE(installed) << installed.error().to_string();
      auto started = c->start();
      ASSERT_TRUE(started) << started.error().to_string();
    }
    ASSERT_NE(east_->anchor_pem(), west_->anchor_pem());

    ASSERT_TRUE(echo_.start({build_path("tests/tools/strait-testapp"), "echo", "--listen",
                             "127.0.0.1:0", "--io-timeout-ms", "120000"},
                            dir_.path() / "echo.log"));
    auto echo = echo_.wait_log("listening 127.0.0.1:", "", 15s);
    ASSERT_TRUE(echo) << echo.error().to_string();
    echo_port_ = static_cast<std::uint16_t>(std::stoi(*echo));

    // In east, a service whose endpoint is a west workload (as a flat mirror would be).
    discovery::Service svc;
    svc.meta.ns = "shop";
    svc.meta.name = "echo-west";
    svc.ports.push_back({.name = "echo", .port = 80, .target_port = echo_port_});
    discovery::Endpoint ep;
    ep.meta.ns = "shop";
    ep.meta.name = "echo-west-0";
    ep.service = "echo-west";
    ep.address = "127.0.0.1";
    ep.port = echo_port_;
    ep.identity = kWestEcho;
    auto applied = east_->apply({svc, ep});
    ASSERT_TRUE(applied) << applied.error().to_string();

    // West trusts east from the start (links go both ways): what is tested below is east's side.
    auto back = link_to(*east_, *west_);
    ASSERT_TRUE(back) << back.error().to_string();

    auto p = start_proxy(*east_, east_proxy_, "east-proxy", "shop", "echo", "127.0.0.1:0");
    ASSERT_TRUE(p) << p.error().to_string();
    std::tie(east_inbound_, east_admin_) = *p;
    p = start_proxy(*west_, west_proxy_, "west-proxy", "shop", "echo",
                    "127.0.0.1:" + std::to_string(west_proxy_port_));
    ASSERT_TRUE(p) << p.error().to_string();
    auto gw = start_gateway();
    ASSERT_TRUE(gw) << gw.error().to_string();

    for (auto admin : {east_admin_, std::get<1>(*p)}) {
      ASSERT_TRUE(wait_until([&] { return http_get(admin, "/ready").status == 200; }, 30s, 50ms))
          << http_get(admin, "/ready").body;
    }

    auto west_client = west_->certify_workload("remote", "client");
    ASSERT_TRUE(west_client) << west_client.error().to_string();
    auto ctx = client_context(*west_client, east_->anchor_pem());
    ASSERT_TRUE(ctx) << ctx.error().to_string();
    west_client_ = *ctx;
    auto east_client = east_->certify_workload("remote", "client");
    ASSERT_TRUE(east_client) << east_client.error().to_string();
    ctx = client_context(*east_client, east_->anchor_pem());
    ASSERT_TRUE(ctx) << ctx.error().to_string();
    east_client_ = *ctx;
  }

  void TearDown() override {
    // Stopped first: what a process reports on its way out (sanitizers) is in its log too.
    gateway_.stop();
    east_proxy_.stop();
    west_proxy_.stop();
    echo_.stop();
    if (HasFailure() || std::getenv("STRAIT_TEST_PRINT_LOG") != nullptr) {
      for (auto* p : {&east_proxy_, &west_proxy_, &gateway_, &echo_}) {
        std::cerr << "----- " << p->log_path().filename().string() << " -----\n"
                  << p->log() << "\n";
      }
    }
  }

  // The real `straitctl install`, listening on free loopback ports.
  Result<void> straitctl_install(const ControllerProcess& c) {
    auto r = run_process({ControllerProcess::straitctl_binary(),
                          "install",
                          "--cluster-name",
                          c.options().cluster,
                          "--trust-domain",
                          c.options().trust_domain,
                          "--state-dir",
                          c.state_dir().string(),
                          "--identity-listen",
                          "127.0.0.1:0",
                          "--destination-listen",
                          "127.0.0.1:0",
                          "--admin-listen",
                          "127.0.0.1:0",
                          "--export-listen",
                          "127.0.0.1:0",
                          "--dns-listen",
                          "127.0.0.1:0",
                          "--export-address",
                          "127.0.0.1:1",
                          "--identity-address",
                          "127.0.0.1:1"},
                         30s);
    if (r.exit_code != 0) return make_error("install_failed", r.output);
    return {};
  }

  // LinkGen on `target` (what `straitctl multicluster link-gen` prints), applied in `source`.
  Result<discovery::Link> link_to(const ControllerProcess& target,
                                  const ControllerProcess& source) {
    admin::v1::LinkGenRequest req;
    req.set_source_cluster(source.options().cluster);
    admin::v1::LinkGenResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    auto s = target.admin()->LinkGen(&ctx, req, &resp);
    if (!s.ok()) return make_error("link_gen_failed", s.error_message());
    boost::system::error_code ec;
    auto json = boost::json::parse(resp.link_json(), ec);
    if (ec) return make_error("link_gen_failed", "not JSON: " + resp.link_json());
    auto o = discovery::object_from_json(json);
    if (!o) return o.error();
    auto link = std::get<discovery::Link>(*o);
    if (auto r = source.apply({link}); !r) return r.error();
    return link;
  }

  // A strait-proxy of `c`'s cluster; its inbound and admin ports once it serves.
  Result<std::pair<std::uint16_t, std::uint16_t>> start_proxy(const ControllerProcess& c,
                                                              Process& p, const std::string& name,
                                                              const std::string& ns,
                                                              const std::string& sa,
                                                              const std::string& inbound) {
    auto token = c.issue_token(ns, sa);
    if (!token) return token.error();
    const fs::path token_file = dir_.path() / (name + ".token");
    write_text(token_file, *token);
    const fs::path yaml = dir_.path() / (name + ".yaml");
    write_text(yaml, "identity:\n  trustDomain: " + c.options().trust_domain +
                         "\n  namespace: " + ns + "\n  serviceAccount: " + sa +
                         "\n  tokenFile: " + token_file.string() +
                         "\n  trustAnchors: " + (c.state_dir() / "ca" / "anchor.crt").string() +
                         "\ncontroller:\n  identity: " + c.identity_address() +
                         "\n  destination: " + c.destination_address() +
                         "\ncluster:\n  domain: cluster.local\n  name: " + c.options().cluster +
                         "\nlisten:\n  outbound: 127.0.0.1:0\n  inbound: " + inbound +
                         "\n  admin: 127.0.0.1:0\n");
    const bool gateway = name == "east-gateway";
    auto started =
        p.start({build_path(gateway ? "gateway/strait-gateway" : "sidecar/proxy/strait-proxy"),
                 "--config", yaml.string()},
                dir_.path() / (name + ".log"));
    if (!started) return started.error();
    const std::string marker = gateway ? "gateway serving" : "proxy serving";
    auto in = p.wait_log(marker, gateway ? "gateway_port" : "inbound_port", 30s);
    if (!in) return in.error();
    auto admin = p.wait_log(marker, "admin_port", 5s);
    if (!admin) return admin.error();
    return std::pair{static_cast<std::uint16_t>(std::stoi(*in)),
                     static_cast<std::uint16_t>(std::stoi(*admin))};
  }

  Result<void> start_gateway() {
    auto p = start_proxy(*east_, gateway_, "east-gateway", "strait-multicluster", "strait-gateway",
                         "127.0.0.1:0");
    if (!p) return p.error();
    gateway_port_ = p->first;
    // Its certificate: the gateway logs it like the proxy does.
    auto cert = gateway_.wait_log("certificate installed", "renew_in_s", 30s);
    if (!cert) return cert.error();
    return {};
  }

  std::string east_metrics() { return http_get(east_admin_, "/metrics").body; }
  double east_roots(const std::string& td) {
    return metric_sum(east_metrics(), "identity_trust_roots", {{"trust_domain", td}});
  }
  double east_refused(const std::string& reason) {
    return std::max(0.0, metric_sum(east_metrics(), "proxy_refused_total",
                                    {{"direction", "inbound"}, {"reason", reason}}));
  }
  // Through east's gateway to the west workload: east verifies west's server certificate.
  bool via_gateway() {
    return echoes(gateway_port_, east_client_, 80, "echo-west.shop.svc.cluster.local:80");
  }

  TempDir dir_;
  std::unique_ptr<ControllerProcess> east_, west_;
  Process echo_, east_proxy_, west_proxy_, gateway_;
  std::uint16_t echo_port_ = 0, west_proxy_port_ = 0, east_inbound_ = 0, east_admin_ = 0,
                gateway_port_ = 0;
  tls::ContextPtr west_client_, east_client_;
};

TEST_F(TrustDomainsTest, LinkedTrustDomainIsAcceptedOnlyWhileLinkedAndOnlyForItsIdentities) {
  // Before any Link: east's own clients pass, west's are refused in the handshake, and east
  // cannot verify west's server.
  EXPECT_TRUE(echoes(east_inbound_, east_client_, echo_port_));
  EXPECT_EQ(east_roots("east.strait"), 1);
  EXPECT_EQ(east_roots("west.strait"), -1);
  const double refused_before = east_refused("tls_handshake_failed");
  EXPECT_FALSE(echoes(east_inbound_, west_client_, echo_port_));
  EXPECT_TRUE(wait_until([&] { return east_refused("tls_handshake_failed") > refused_before; }, 5s))
      << east_metrics();
  EXPECT_FALSE(via_gateway());

  // East links west: west's root, scoped to west.strait, reaches east's proxy and gateway.
  auto link = link_to(*west_, *east_);
  ASSERT_TRUE(link) << link.error().to_string();
  EXPECT_EQ(link->target_trust_domain, "west.strait");
  ASSERT_TRUE(
      wait_until([&] { return echoes(east_inbound_, west_client_, echo_port_); }, 20s, 100ms))
      << "west's client still refused after the Link";
  EXPECT_EQ(east_roots("west.strait"), 1);
  EXPECT_EQ(east_roots("east.strait"), 1);
  EXPECT_NE(east_proxy_.log().find("added=west.strait"), std::string::npos);
  ASSERT_TRUE(wait_until([&] { return via_gateway(); }, 20s, 100ms))
      << "east's gateway still cannot verify west's server";

  // Scoping: west's CA vouching for an east identity, or for a third domain, is refused.
  auto forged_east = forged_context(west_->state_dir(), "spiffe://east.strait/ns/remote/sa/client",
                                    east_->anchor_pem());
  ASSERT_TRUE(forged_east) << forged_east.error().to_string();
  auto forged_north = forged_context(
      west_->state_dir(), "spiffe://north.strait/ns/remote/sa/client", east_->anchor_pem());
  ASSERT_TRUE(forged_north) << forged_north.error().to_string();
  EXPECT_FALSE(echoes(east_inbound_, *forged_east, echo_port_));
  EXPECT_FALSE(echoes(east_inbound_, *forged_north, echo_port_));
  EXPECT_TRUE(wait_until(
      [&] {
        auto log = east_proxy_.log();
        return log.find("not trusted for east.strait") != std::string::npos &&
               log.find("not trusted for north.strait") != std::string::npos;
      },
      5s))
      << "the refusals name the scope";
  // ... and a genuine west identity still passes.
  EXPECT_TRUE(echoes(east_inbound_, west_client_, echo_port_));

  // A connection in flight outlives the Link; new ones are refused again.
  auto held = open(east_inbound_, west_client_, echo_port_);
  ASSERT_TRUE(held) << held.error().to_string();
  ASSERT_TRUE((*held)->echo("before unlink", 3s));
  auto removed = east_->remove(discovery::Kind::kLink, link->meta.ns, link->meta.name);
  ASSERT_TRUE(removed) << removed.error().to_string();
  ASSERT_TRUE(
      wait_until([&] { return !echoes(east_inbound_, west_client_, echo_port_); }, 20s, 100ms))
      << "west's client still accepted after the Link was deleted";
  EXPECT_TRUE(wait_until([&] { return !via_gateway(); }, 20s, 100ms));
  EXPECT_EQ(east_roots("west.strait"), -1) << "the gauge forgets the trust domain";
  EXPECT_NE(east_proxy_.log().find("removed=west.strait"), std::string::npos);
  EXPECT_TRUE((*held)->echo("after unlink", 3s)) << "a connection in flight is untouched";
  EXPECT_TRUE(echoes(east_inbound_, east_client_, echo_port_));
}

TEST_F(TrustDomainsTest, ControllerStreamsTheTrustedRoots) {
  // Trust.Watch on east's mesh port, as a proxy would call it.
  auto creds = east_->certify_workload("shop", "watcher");
  ASSERT_TRUE(creds) << creds.error().to_string();
  auto stub = tv::Trust::NewStub(
      east_->channel(ControllerProcess::credentials_of(*creds, east_->anchor_pem())));
  StreamReader<tv::TrustBundleUpdate> reader(
      [&](grpc::ClientContext* c) { return stub->Watch(c, tv::TrustWatchRequest()); });
  auto roots = [](const tv::TrustBundleUpdate& u) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : u.roots()) out.emplace_back(r.trust_domain(), r.pem());
    return out;
  };
  auto first = reader.next(10s);
  ASSERT_TRUE(first) << "no first message";
  ASSERT_EQ(first->roots_size(), 1);
  EXPECT_EQ(first->roots(0).trust_domain(), "");

  auto link = link_to(*west_, *east_);
  ASSERT_TRUE(link) << link.error().to_string();
  auto linked = reader.next(10s);
  ASSERT_TRUE(linked) << "no update after the Link";
  auto got = roots(*linked);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], roots(*first)[0]);
  EXPECT_EQ(got[1].first, "west.strait");
  EXPECT_EQ(*tls::Certificate::from_pem(got[1].second),
            *tls::Certificate::from_pem(west_->anchor_pem()));

  // East's proxy and gateway watch too (and this reader).
  EXPECT_TRUE(wait_until(
      [&] {
        return metric_value(east_->get("/metrics").body,
                            "controller_streams_open{api=\"trust\"}") >= 3;
      },
      10s))
      << east_->get("/metrics").body;

  ASSERT_TRUE(east_->remove(discovery::Kind::kLink, link->meta.ns, link->meta.name));
  auto unlinked = reader.next(10s);
  ASSERT_TRUE(unlinked) << "no update after the Link was deleted";
  EXPECT_EQ(roots(*unlinked), roots(*first));
}

// /ready and the trust stream: a stand-in for the controller's mesh port (the controller's own
// certificate, from the cluster's issuer) that either never answers Trust.Watch or does not
// serve it at all (an older controller). Identity is the real controller's.
class HangingTrust final : public tv::Trust::Service {
 public:
  grpc::Status Watch(grpc::ServerContext* context, const tv::TrustWatchRequest*,
                     grpc::ServerWriter<tv::TrustBundleUpdate>*) override {
    ++calls;
    while (!context->IsCancelled() && !stop) std::this_thread::sleep_for(20ms);
    return grpc::Status::CANCELLED;
  }
  std::atomic<int> calls{0};
  std::atomic<bool> stop{false};
};

class TrustReadinessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    controller_ = std::make_unique<ControllerProcess>(
        ControllerOptions{.cluster = "east", .trust_domain = "east.strait", .flags = {}});
    ASSERT_TRUE(controller_->install());
    auto started = controller_->start();
    ASSERT_TRUE(started) << started.error().to_string();
  }
  void TearDown() override {
    proxy_.stop();
    if (HasFailure() || std::getenv("STRAIT_TEST_PRINT_LOG") != nullptr) {
      std::cerr << "----- proxy.log -----\n" << proxy_.log() << "\n";
    }
    trust_.stop = true;
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + 2s);
  }

  // The stand-in mesh port, with or without the Trust service.
  Result<std::string> start_mesh_port(bool serve_trust) {
    auto cert = read_file(controller_->state_dir() / "ca" / "issuer.crt");
    auto key = read_file(controller_->state_dir() / "ca" / "issuer.key");
    if (!cert || !key) return make_error("io_error", "cannot read the issuer");
    auto issuer = tls::CertificateAuthority::from_pem(*cert, *key, "");
    if (!issuer) return issuer.error();
    auto id = identity::SpiffeId::parse(controller_identity("east.strait"));
    auto leaf_key = tls::PrivateKey::generate_p256();
    auto csr = tls::CertificateRequest::from_pem(*tls::make_csr(*leaf_key, *id));
    auto leaf = issuer->issue_leaf(*csr, *id, std::chrono::hours(1), {kControllerServerName});
    if (!leaf) return leaf.error();
    grpc::SslServerCredentialsOptions options(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    options.pem_root_certs = controller_->anchor_pem();
    options.pem_key_cert_pairs.push_back({leaf_key->to_pem(), leaf->to_pem() + *cert});
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(options), &port);
    // An older controller serves the other APIs (here: policy, answering nothing) but not Trust.
    b.RegisterService(serve_trust ? static_cast<grpc::Service*>(&trust_) : &older_);
    server_ = b.BuildAndStart();
    if (!server_ || port == 0) return make_error("bind_failed", "stand-in mesh port");
    return "127.0.0.1:" + std::to_string(port);
  }

  // A proxy using the real identity service and the stand-in for everything else; its admin port.
  Result<std::uint16_t> start_proxy(const std::string& mesh, const std::string& trust_ready) {
    auto token = controller_->issue_token("shop", "web");
    if (!token) return token.error();
    write_text(dir_.path() / "token", *token);
    write_text(dir_.path() / "proxy.yaml",
               "identity:\n  trustDomain: east.strait\n  namespace: shop\n"
               "  serviceAccount: web\n  tokenFile: " +
                   (dir_.path() / "token").string() + "\n  trustAnchors: " +
                   (controller_->state_dir() / "ca" / "anchor.crt").string() +
                   "\ncontroller:\n  identity: " + controller_->identity_address() +
                   "\n  destination: " + mesh +
                   "\nlisten:\n  outbound: 127.0.0.1:0\n  inbound: 127.0.0.1:0\n"
                   "  admin: 127.0.0.1:0\ntimeouts:\n  trustReady: " +
                   trust_ready + "\n");
    auto started = proxy_.start({build_path("sidecar/proxy/strait-proxy"), "--config",
                                 (dir_.path() / "proxy.yaml").string()},
                                dir_.path() / "proxy.log");
    if (!started) return started.error();
    auto admin = proxy_.wait_log("proxy serving", "admin_port", 30s);
    if (!admin) return admin.error();
    return static_cast<std::uint16_t>(std::stoi(*admin));
  }

  TempDir dir_;
  std::unique_ptr<ControllerProcess> controller_;
  HangingTrust trust_;
  policy::v1::InboundPolicies::Service older_;
  std::unique_ptr<grpc::Server> server_;
  Process proxy_;
};

TEST_F(TrustReadinessTest, SilentTrustStreamHoldsReadinessOnlyUntilTrustReady) {
  auto mesh = start_mesh_port(/*serve_trust=*/true);
  ASSERT_TRUE(mesh) << mesh.error().to_string();
  auto admin = start_proxy(*mesh, "2s");
  ASSERT_TRUE(admin) << admin.error().to_string();
  ASSERT_TRUE(proxy_.wait_log("certificate installed", "renew_in_s", 30s));
  const auto certified = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return trust_.calls > 0; }, 10s)) << "no Trust.Watch call";
  auto early = http_get(*admin, "/ready");
  EXPECT_NE(early.status, 200);
  EXPECT_NE(early.body.find("waiting for trust roots"), std::string::npos) << early.body;
  ASSERT_TRUE(wait_until([&] { return http_get(*admin, "/ready").status == 200; }, 15s, 50ms))
      << http_get(*admin, "/ready").body;
  EXPECT_GE(std::chrono::steady_clock::now() - certified, 1500ms);
}

TEST_F(TrustReadinessTest, ControllerWithoutTrustServiceDoesNotHoldReadiness) {
  auto mesh = start_mesh_port(/*serve_trust=*/false);
  ASSERT_TRUE(mesh) << mesh.error().to_string();
  auto admin = start_proxy(*mesh, "10m");
  ASSERT_TRUE(admin) << admin.error().to_string();
  ASSERT_TRUE(wait_until([&] { return http_get(*admin, "/ready").status == 200; }, 20s, 50ms))
      << http_get(*admin, "/ready").body;
  EXPECT_NE(proxy_.log().find("does not serve trust roots"), std::string::npos);
}

}  // namespace
}  // namespace strait::controlplane::testing
