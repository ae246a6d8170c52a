// Two real controllers (east, west), a Link from `straitctl multicluster link-gen`-style LinkGen
// on east applied in west, the real strait-link for west, and an in-test HTTPS server standing in
// for east's gateway probe port. Loopback only, ports picked free, every wait with a deadline.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <algorithm>
#include <set>

#include "controlplane/client/certify.h"
#include "core/discovery/json_codec.h"
#include "core/tls/certificate.h"
#include "core/tls/key.h"
#include "core/token/token.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/link/https_server.h"
#include "tests/link/link_process.h"

namespace strait::link {
namespace {
using namespace std::chrono_literals;
using controlplane::testing::ControllerOptions;
using controlplane::testing::ControllerProcess;
using controlplane::testing::TempDir;
using controlplane::testing::wait_until;
using discovery::Kind;

const char* kGatewayId = "spiffe://east.strait/ns/strait-multicluster/sa/strait-gateway";

// A free loopback port: bound, then released (the controller binds it right after).
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

ControllerOptions east_options(std::uint16_t export_port, std::uint16_t identity_port) {
  ControllerOptions o;
  o.cluster = "east";
  o.trust_domain = "east.strait";
  const std::string e = "127.0.0.1:" + std::to_string(export_port);
  const std::string i = "127.0.0.1:" + std::to_string(identity_port);
  o.flags = {"--listen.export=" + e,
             "--multicluster.exportAddress=" + e,
             "--listen.identity=" + i,
             "--multicluster.identityAddress=" + i,
             "--multicluster.gatewayAddresses=127.0.0.1",
             "--multicluster.gatewayPort=4143"};
  return o;
}

ControllerOptions west_options() {
  ControllerOptions o;
  o.cluster = "west";
  o.trust_domain = "west.strait";
  return o;
}

discovery::Service service(const std::string& name, discovery::Labels labels) {
  discovery::Service s;
  s.meta.ns = "shop";
  s.meta.name = name;
  s.meta.labels = std::move(labels);
  s.ports.push_back({.name = "http", .port = 80, .protocol = discovery::ProtocolHint::kHttp1});
  return s;
}

discovery::Endpoint endpoint(const std::string& svc, const std::string& ip) {
  discovery::Endpoint e;
  e.meta.ns = "shop";
  std::string dashed = ip;
  std::replace(dashed.begin(), dashed.end(), '.', '-');
  e.meta.name = svc + "-" + dashed;
  e.service = svc;
  e.address = ip;
  e.port = 8080;
  e.identity = "spiffe://east.strait/ns/shop/sa/" + svc;
  return e;
}

tls::Credentials tls_credentials(const controlplane::WorkloadCredentials& w) {
  auto leaf = tls::Certificate::from_pem(w.cert_pem);
  auto key = tls::PrivateKey::from_pem(w.key_pem);
  std::vector<tls::Certificate> chain;
  for (const auto& c : w.chain_pem) chain.push_back(*tls::Certificate::from_pem(c));
  return tls::Credentials{*leaf, chain, *key};
}

class LinkIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    export_port_ = free_port();
    identity_port_ = free_port();
    auto eo = east_options(export_port_, identity_port_);
    eo.flags.insert(eo.flags.end(), extra_east_flags_.begin(), extra_east_flags_.end());
    east_ = std::make_unique<ControllerProcess>(eo);
    west_ = std::make_unique<ControllerProcess>(west_options());
    ASSERT_TRUE(east_->install());
    ASSERT_TRUE(west_->install());
    auto es = east_->start();
    ASSERT_TRUE(es) << es.error().to_string();
    ASSERT_TRUE(west_->start());
    // West needs the namespace: a local service of its own in shop.
    ASSERT_TRUE(west_->apply({service("frontend", {})}));

    // East's gateway probe port.
    auto gw = east_->certify_workload("strait-multicluster", "strait-gateway");
    ASSERT_TRUE(gw) << gw.error().to_string();
    auto roots = tls::TrustBundle::from_pem(east_->anchor_pem());
    ASSERT_TRUE(roots);
    gateway_ = std::make_unique<testing::TestHttpsServer>(tls_credentials(*gw), *roots);
    ASSERT_TRUE(gateway_->start());
  }

  // LinkGen on east (what `straitctl multicluster link-gen` prints), with the probe pointed at
  // the test's gateway server.
  discovery::Link link_gen(std::int64_t ttl_seconds = 600) {
    admin::v1::LinkGenRequest req;
    req.set_source_cluster("west");
    req.set_ttl_seconds(ttl_seconds);
    admin::v1::LinkGenResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    auto s = east_->admin()->LinkGen(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    auto o = discovery::object_from_json(boost::json::parse(resp.link_json()));
    EXPECT_TRUE(o);
    auto link = std::get<discovery::Link>(*o);
    link.probe.port = gateway_->port();
    link.probe.period = 200ms;
    link.probe.timeout = 500ms;
    link.probe.failure_threshold = 3;
    return link;
  }

  void start_link() {
    link_ = std::make_unique<testing::LinkProcess>(
        west_->state_dir(), dir_.path() / "strait-link.log",
        std::vector<std::string>{"--repair.period=1s", "--links.poll=200ms"});
    auto r = link_->start();
    ASSERT_TRUE(r) << r.error().to_string();
  }

  std::vector<discovery::Object> west_list(Kind kind) {
    auto r = west_->list(kind, "shop");
    return r ? *r : std::vector<discovery::Object>{};
  }
  const discovery::Service* find_service(const std::vector<discovery::Object>& all,
                                         const std::string& name) {
    for (const auto& o : all) {
      if (discovery::meta_of(o).name == name) return &std::get<discovery::Service>(o);
    }
    return nullptr;
  }
  bool has_service(const std::string& name) {
    return find_service(west_list(Kind::kService), name) != nullptr;
  }
  std::vector<discovery::Endpoint> endpoints_of(const std::string& svc) {
    std::vector<discovery::Endpoint> out;
    for (const auto& o : west_list(Kind::kEndpoint)) {
      const auto& e = std::get<discovery::Endpoint>(o);
      if (e.service == svc) out.push_back(e);
    }
    return out;
  }
  std::size_t owned_by_east() {
    std::size_t n = 0;
    for (auto kind : {Kind::kService, Kind::kEndpoint}) {
      auto all = west_->list(kind, "");
      if (!all) return 999;
      for (const auto& o : *all) n += discovery::meta_of(o).owner == "link:east" ? 1 : 0;
    }
    return n;
  }
  bool gateway_endpoints_ready(bool ready) {
    auto eps = endpoints_of("web-east");
    if (eps.empty()) return false;
    for (const auto& e : eps) {
      if (e.ready != ready) return false;
    }
    return true;
  }
  boost::json::value links_status() {
    auto r = link_->get("/links");
    if (r.status != 200) return nullptr;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    return ec ? boost::json::value(nullptr) : v;
  }

  std::vector<std::string> extra_east_flags_;
  TempDir dir_;
  std::uint16_t export_port_ = 0, identity_port_ = 0;
  std::unique_ptr<ControllerProcess> east_, west_;
  std::unique_ptr<testing::TestHttpsServer> gateway_;
  std::unique_ptr<testing::LinkProcess> link_;
};

TEST_F(LinkIntegrationTest, MirrorsFollowExportsProbesAndUnlink) {
  ASSERT_TRUE(east_->apply(
      {service("web", {{"mirror.strait.dev/exported", "true"}, {"app", "web"}}),
       endpoint("web", "10.1.0.1"),
       service("db", {{"mirror.strait.dev/exported", "remote-discovery"}}),
       endpoint("db", "10.1.0.2"), endpoint("db", "10.1.0.3"), service("private", {})}));
  ASSERT_TRUE(west_->apply({link_gen()}));
  start_link();

  // Gateway mode: <svc>-east whose endpoints are the gateway's addresses and identity.
  ASSERT_TRUE(wait_until([&] { return endpoints_of("web-east").size() == 1; }, 20s))
      << link_->log();
  auto web = endpoints_of("web-east")[0];
  EXPECT_EQ(web.address, "127.0.0.1");
  EXPECT_EQ(web.port, 4143);
  EXPECT_EQ(web.identity, kGatewayId);
  EXPECT_EQ(web.authority_override, "web.shop.svc.cluster.local");
  EXPECT_EQ(web.meta.owner, "link:east");
  auto services = west_list(Kind::kService);
  ASSERT_NE(find_service(services, "web-east"), nullptr);
  EXPECT_EQ(find_service(services, "web-east")->meta.labels.at("app"), "web");
  EXPECT_FALSE(find_service(services, "web-east")->cluster_ip.empty());
  EXPECT_EQ(find_service(services, "private-east"), nullptr);

  // Flat mode: the remote pods.
  ASSERT_TRUE(wait_until([&] { return endpoints_of("db-east").size() == 2; }, 10s));
  std::set<std::string> db;
  for (const auto& e : endpoints_of("db-east")) db.insert(e.address + " " + e.identity);
  EXPECT_EQ(db, (std::set<std::string>{"10.1.0.2 spiffe://east.strait/ns/shop/sa/db",
                                       "10.1.0.3 spiffe://east.strait/ns/shop/sa/db"}));

  // A remote endpoint that goes away goes away here too.
  ASSERT_TRUE(east_->remove(Kind::kEndpoint, "shop", "db-10-1-0-3"));
  ASSERT_TRUE(wait_until([&] { return endpoints_of("db-east").size() == 1; }, 10s));

  // /links: the status of the link and its mirrors.
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = links_status();
        return s.is_object() && s.at("links").as_array().size() == 1 &&
               s.at("links").as_array()[0].at("mirrors").as_array().size() == 2;
      },
      10s));
  auto st = links_status().at("links").as_array()[0].as_object();
  EXPECT_EQ(st.at("target_cluster").as_string(), "east");
  EXPECT_TRUE(st.at("synced").as_bool());
  EXPECT_TRUE(st.at("credentials").at("valid").as_bool());
  for (const auto& m : st.at("mirrors").as_array()) EXPECT_EQ(m.at("condition").as_string(), "ok");

  // The gateway's probe port stops: gateway endpoints become not ready within
  // period x threshold (+ jitter) and a margin; back when it returns.
  ASSERT_TRUE(gateway_endpoints_ready(true));
  const auto probe_port = gateway_->port();
  gateway_->stop();
  const auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return gateway_endpoints_ready(false); }, 200ms * 3 * 11 / 10 + 3s))
      << link_->log();
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 200ms * 3 * 11 / 10 + 3s);
  // Flat mirrors do not depend on the gateway.
  for (const auto& e : endpoints_of("db-east")) EXPECT_TRUE(e.ready);
  auto restarted = gateway_->start(probe_port);
  ASSERT_TRUE(restarted)
      << restarted.error().to_string()
      << controlplane::testing::run_process({"/usr/bin/ss", "-tanpe"}, 5s).output;
  ASSERT_TRUE(wait_until([&] { return gateway_endpoints_ready(true); }, 5s)) << link_->log();
  auto metrics = link_->get("/metrics").body;
  EXPECT_NE(metrics.find("gateway_alive{target_cluster=\"east\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("gateway_probes_total{target_cluster=\"east\",result=\"success\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("gateway_probe_latency_ms_count{target_cluster=\"east\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("link_mirrors{target_cluster=\"east\"} 2"), std::string::npos);
  EXPECT_NE(metrics.find("link_events_total{target_cluster=\"east\",event=\"gateway_health\"} 2"),
            std::string::npos);

  // Unexport (the label removed): the mirror goes.
  ASSERT_TRUE(east_->apply({service("web", {{"app", "web"}})}));
  ASSERT_TRUE(wait_until(
      [&] { return !has_service("web-east") && endpoints_of("web-east").empty(); }, 10s));
  EXPECT_TRUE(has_service("db-east"));

  // straitctl multicluster unlink: every mirror and the Link go, and stay gone.
  auto out = controlplane::testing::run_process(
      {ControllerProcess::straitctl_binary(), "multicluster", "unlink", "--cluster-name", "east",
       "--state-dir", west_->state_dir().string()},
      20s);
  ASSERT_EQ(out.exit_code, 0) << out.output;
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = links_status();
        return s.is_object() && s.at("links").as_array().empty();
      },
      10s));
  EXPECT_EQ(owned_by_east(), 0u);
  EXPECT_FALSE(std::filesystem::exists(west_->state_dir() / "links" / "east"));
  EXPECT_TRUE(has_service("frontend"));
}

TEST_F(LinkIntegrationTest, RestartLeavesNoOrphansAndNoDuplicates) {
  ASSERT_TRUE(east_->apply({service("web", {{"mirror.strait.dev/exported", "true"}}),
                            endpoint("web", "10.1.0.1"),
                            service("db", {{"mirror.strait.dev/exported", "remote-discovery"}}),
                            endpoint("db", "10.1.0.2")}));
  ASSERT_TRUE(west_->apply({link_gen()}));
  start_link();
  ASSERT_TRUE(wait_until(
      [&] { return has_service("web-east") && endpoints_of("db-east").size() == 1; }, 20s))
      << link_->log();
  ASSERT_EQ(link_->stop(), 0);
  EXPECT_TRUE(std::filesystem::exists(west_->state_dir() / "links" / "east" / "key.pem"));
  EXPECT_EQ(
      std::filesystem::status(west_->state_dir() / "links" / "east" / "key.pem").permissions() &
          std::filesystem::perms::all,
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  // While strait-link is down: db is unexported in east, and an orphan appears in west.
  ASSERT_TRUE(east_->apply({service("db", {})}));
  discovery::Service ghost = service("ghost-east", {});
  ghost.meta.owner = "link:east";
  discovery::Endpoint ghost_ep = endpoint("ghost-east", "10.9.9.9");
  ghost_ep.meta.owner = "link:east";
  ASSERT_TRUE(west_->apply({ghost, ghost_ep}));
  const auto before = owned_by_east();

  // Restarted, with the spent token: the persisted credential is used.
  start_link();
  ASSERT_TRUE(
      wait_until([&] { return !has_service("ghost-east") && !has_service("db-east"); }, 20s))
      << link_->log();
  EXPECT_TRUE(endpoints_of("ghost-east").empty());
  EXPECT_TRUE(endpoints_of("db-east").empty());
  // web-east exactly once, with exactly its gateway endpoint.
  std::size_t webs = 0;
  for (const auto& o : west_list(Kind::kService))
    webs += discovery::meta_of(o).name == "web-east" ? 1 : 0;
  EXPECT_EQ(webs, 1u);
  EXPECT_EQ(endpoints_of("web-east").size(), 1u);
  EXPECT_EQ(owned_by_east(), before - 4);  // ghost service + endpoint, db-east + its endpoint
  auto s = links_status();
  ASSERT_TRUE(s.is_object());
  EXPECT_TRUE(s.at("links").as_array()[0].at("credentials").at("valid").as_bool());
  EXPECT_EQ(s.at("links").as_array()[0].at("credentials").at("error").as_string(), "");
}

TEST_F(LinkIntegrationTest, LinkTokensAreSingleUseAndExpire) {
  auto link = link_gen();
  ASSERT_TRUE(west_->apply({link}));
  start_link();
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = links_status();
        return s.is_object() && s.at("links").as_array().size() == 1 &&
               s.at("links").as_array()[0].at("credentials").at("valid").as_bool();
      },
      20s))
      << link_->log();

  // Reused: refused, whoever presents it.
  auto id = identity::SpiffeId::parse("spiffe://east.strait/ns/strait-multicluster/sa/link-west");
  ASSERT_TRUE(id);
  auto again = controlplane::certify(link.identity_address, link.trust_bundle_pem, *id,
                                     link.link_token, 10s);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("reused_token"), std::string::npos)
      << again.error().to_string();
  // A strait-link that lost its persisted credential cannot get in with the spent token.
  ASSERT_EQ(link_->stop(), 0);
  std::filesystem::remove_all(west_->state_dir() / "links" / "east");
  start_link();
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = links_status();
        if (!s.is_object() || s.at("links").as_array().empty()) return false;
        const auto& c = s.at("links").as_array()[0].at("credentials");
        return std::string(c.at("error").as_string()).find("reused_token") != std::string::npos;
      },
      20s))
      << link_->log();

  // Expired: refused.
  auto short_lived = link_gen(1);
  const auto issued = std::chrono::steady_clock::now();
  // Waiting on the clock is the point here: the token must be past its expiry (1 s, whole
  // seconds) and the verifier's clock-skew leeway.
  const auto past = 1s + token::kExpiryLeeway + 1500ms;
  wait_until([&] { return std::chrono::steady_clock::now() - issued > past; }, past + 2s, 50ms);
  auto expired = controlplane::certify(short_lived.identity_address, short_lived.trust_bundle_pem,
                                       *id, short_lived.link_token, 10s);
  ASSERT_FALSE(expired);
  EXPECT_NE(expired.error().message.find("expired_token"), std::string::npos)
      << expired.error().to_string();
}

}  // namespace
}  // namespace strait::link

namespace strait::link {
namespace {

TEST_F(LinkIntegrationTest, LocalControllerOutageIsRetried) {
  ASSERT_TRUE(east_->apply(
      {service("web", {{"mirror.strait.dev/exported", "true"}}), endpoint("web", "10.1.0.1")}));
  ASSERT_TRUE(west_->apply({link_gen()}));
  start_link();
  ASSERT_TRUE(wait_until([&] { return has_service("web-east"); }, 20s)) << link_->log();
  // West's controller goes away; east exports more meanwhile; west comes back on new ports
  // (port 0): the failed writes are retried against the controller found again.
  west_->stop();
  ASSERT_TRUE(east_->apply({service("cart", {{"mirror.strait.dev/exported", "remote-discovery"}}),
                            endpoint("cart", "10.1.0.7")}));
  ASSERT_TRUE(wait_until([&] { return link_->log().find("will retry") != std::string::npos; }, 10s))
      << link_->log();
  ASSERT_TRUE(west_->start());
  ASSERT_TRUE(wait_until([&] { return endpoints_of("cart-east").size() == 1; }, 30s))
      << link_->log();
  EXPECT_TRUE(has_service("web-east"));
  EXPECT_NE(link_->get("/metrics")
                .body.find("link_retries_total{target_cluster=\"east\",outcome=\"retrying\"}"),
            std::string::npos);
}

class ShortLivedLinkCertificates : public LinkIntegrationTest {
 protected:
  ShortLivedLinkCertificates() { extra_east_flags_ = {"--identity.certLifetime=10s"}; }
};

TEST_F(ShortLivedLinkCertificates, RenewedAt70PercentWithTheCurrentCertificate) {
  ASSERT_TRUE(east_->apply(
      {service("web", {{"mirror.strait.dev/exported", "true"}}), endpoint("web", "10.1.0.1")}));
  ASSERT_TRUE(west_->apply({link_gen()}));
  start_link();
  auto expires = [&]() -> std::int64_t {
    auto s = links_status();
    if (!s.is_object() || s.at("links").as_array().empty()) return 0;
    const auto& c = s.at("links").as_array()[0].at("credentials").as_object();
    return c.contains("expires_unix") ? c.at("expires_unix").to_number<std::int64_t>() : 0;
  };
  ASSERT_TRUE(wait_until([&] { return expires() > 0; }, 20s)) << link_->log();
  const auto first = expires();
  const auto got = std::chrono::steady_clock::now();
  // 70 % of 10 s, plus a margin; the spent token cannot have been used again.
  ASSERT_TRUE(wait_until([&] { return expires() > first; }, 12s)) << link_->log();
  EXPECT_GT(std::chrono::steady_clock::now() - got, 5s);
  EXPECT_EQ(east_->log().find("reused_token"), std::string::npos);
  // And the renewed certificate keeps working: a new export arrives.
  ASSERT_TRUE(east_->apply(
      {service("cart", {{"mirror.strait.dev/exported", "true"}}), endpoint("cart", "10.1.0.8")}));
  ASSERT_TRUE(wait_until([&] { return has_service("cart-east"); }, 10s)) << link_->log();
}

TEST_F(LinkIntegrationTest, FederatedServiceIsTheUnionOfBothClusters) {
  const discovery::Labels member = {{"mirror.strait.dev/federated", "member"}};
  ASSERT_TRUE(east_->apply({service("api", member), endpoint("api", "10.1.0.5")}));
  discovery::Endpoint local = endpoint("api", "10.2.0.5");
  local.identity = "spiffe://west.strait/ns/shop/sa/api";
  ASSERT_TRUE(west_->apply({service("api", member), local}));
  ASSERT_TRUE(west_->apply({link_gen()}));
  start_link();
  auto members = [&] {
    std::set<std::string> out;
    for (const auto& e : endpoints_of("api-federated"))
      out.insert(e.address + "@" + e.meta.cluster);
    return out;
  };
  const std::set<std::string> both = {"10.1.0.5@east", "10.2.0.5@west"};
  ASSERT_TRUE(wait_until([&] { return members() == both; }, 20s)) << link_->log();
  EXPECT_TRUE(has_service("api-federated"));
  // East leaves: its endpoint goes; west's own member keeps the federated service.
  ASSERT_TRUE(east_->apply({service("api", {})}));
  const std::set<std::string> west_only = {"10.2.0.5@west"};
  ASSERT_TRUE(wait_until([&] { return members() == west_only; }, 10s)) << link_->log();
  EXPECT_TRUE(has_service("api-federated"));
  // West leaves too: the last member gone, the federated service goes.
  ASSERT_TRUE(west_->apply({service("api", {})}));
  ASSERT_TRUE(wait_until([&] { return !has_service("api-federated") && members().empty(); }, 10s))
      << link_->log();
  EXPECT_TRUE(has_service("api"));
  EXPECT_EQ(endpoints_of("api").size(), 1u);
}

// A ServiceExport in a cluster with no Link at all: a clusterset of one. strait-link federates
// the local member (api-federated with its endpoint) and writes its ServiceImport; deleting
// the export removes both.
TEST_F(LinkIntegrationTest, ALocalExportWithoutLinksIsAClustersetOfOne) {
  discovery::ServiceExport x;
  x.meta.ns = "shop";
  x.meta.name = "api";
  ASSERT_TRUE(west_->apply({service("api", {}), endpoint("api", "10.2.0.6"), x}));
  start_link();
  auto imported = [&] {
    auto l = west_->list(discovery::Kind::kServiceImport, "shop");
    return l && l->size() == 1 &&
           std::get<discovery::ServiceImport>(l->front()).clusters ==
               std::vector<std::string>{"west"};
  };
  ASSERT_TRUE(
      wait_until([&] { return endpoints_of("api-federated").size() == 1 && imported(); }, 20s))
      << link_->log();
  EXPECT_EQ(endpoints_of("api-federated").front().address, "10.2.0.6");
  ASSERT_TRUE(west_->remove(discovery::Kind::kServiceExport, "shop", "api"));
  ASSERT_TRUE(wait_until(
      [&] {
        auto l = west_->list(discovery::Kind::kServiceImport, "shop");
        return !has_service("api-federated") && l && l->empty();
      },
      20s))
      << link_->log();
  EXPECT_TRUE(has_service("api"));
}

// The export stream lost (east's controller stopped): the mirrors are served as last seen for
// the Link's staleAfter, then their endpoints go not ready with the stale-since annotation, the
// status and metrics say so; east back (same ports): the stream reconnects, syncs, and the
// mirrors are current again.
TEST_F(LinkIntegrationTest, ALostExportStreamMakesTheMirrorsStaleAfterStaleAfter) {
  ASSERT_TRUE(east_->apply(
      {service("web", {{"mirror.strait.dev/exported", "true"}}), endpoint("web", "10.1.0.1")}));
  auto link = link_gen();
  link.stale_after = std::chrono::seconds(3);
  ASSERT_TRUE(west_->apply({link}));
  start_link();
  auto ready = [&](const std::string& svc) {
    int n = 0;
    for (const auto& e : endpoints_of(svc)) n += e.ready ? 1 : 0;
    return n;
  };
  auto stale_annotation = [&] {
    const auto services = west_list(Kind::kService);
    const auto* s = find_service(services, "web-east");
    return s && s->meta.annotations.contains("mirror.strait.dev/stale-since");
  };
  auto field = [&](const char* key) -> boost::json::value {
    auto s = links_status();
    if (!s.is_object() || s.at("links").as_array().empty()) return nullptr;
    const auto& l = s.at("links").as_array()[0].as_object();
    return l.contains(key) ? l.at(key) : boost::json::value(nullptr);
  };
  ASSERT_TRUE(wait_until([&] { return ready("web-east") == 1 && field("synced") == true; }, 20s))
      << link_->log();
  EXPECT_EQ(field("stale"), false);

  const auto lost = std::chrono::steady_clock::now();
  east_->stop();
  // Down, not yet stale: the mirror is served as last seen.
  ASSERT_TRUE(wait_until([&] { return field("stream_connected") == false; }, 10s)) << link_->log();
  EXPECT_TRUE(field("down_since_unix").is_number());
  ASSERT_TRUE(wait_until([&] { return field("stale") == true; }, 15s)) << link_->log();
  EXPECT_GE(std::chrono::steady_clock::now() - lost, std::chrono::milliseconds(2900));
  ASSERT_TRUE(wait_until([&] { return ready("web-east") == 0 && stale_annotation(); }, 10s))
      << ready("web-east") << " ready; annotated " << stale_annotation() << "; "
      << link_->get("/links").body;
  EXPECT_EQ(endpoints_of("web-east").size(), 1u);  // kept, not ready
  const std::string metrics = link_->get("/metrics").body;
  EXPECT_NE(metrics.find("link_export_connected{target_cluster=\"east\"} 0"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("link_last_sync_seconds{target_cluster=\"east\"} 1"), std::string::npos)
      << metrics;  // a Unix time (1.7e9...)

  ASSERT_TRUE(east_->start());
  ASSERT_TRUE(wait_until(
      [&] { return field("stale") == false && ready("web-east") == 1 && !stale_annotation(); },
      30s))
      << link_->log();
  EXPECT_NE(link_->log().find("link current again"), std::string::npos);
}

}  // namespace
}  // namespace strait::link
