// ControllerConfig::from: defaults of a minimal controller.yaml, and refusals naming the field.
#include <gtest/gtest.h>

#include "controlplane/server/controller_config.h"

namespace strait::controlplane {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kMinimal =
    "cluster:\n"
    "  name: west\n"
    "  trustDomain: west.example\n"
    "stateDir: /var/lib/strait\n";

Result<ControllerConfig> from_yaml(const std::string& yaml) {
  auto c = config::Config::from_yaml(yaml, "controller.yaml");
  if (!c.ok()) return c.error();
  return ControllerConfig::from(*c);
}

// kMinimal with extra YAML lines under the given top-level section merged in.
std::string with(std::string_view extra) { return std::string(kMinimal) + std::string(extra); }

TEST(ControllerConfigTest, MinimalConfigTakesDefaults) {
  auto c = from_yaml(std::string(kMinimal));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->cluster, "west");
  EXPECT_EQ(c->trust_domain, "west.example");
  EXPECT_EQ(c->domain, "cluster.local");
  EXPECT_EQ(c->service_cidr, "198.19.0.0/20");
  EXPECT_EQ(c->inbound_proxy_port, 4143);
  EXPECT_EQ(c->state_dir, std::filesystem::path("/var/lib/strait"));
  using List = std::vector<std::string>;
  EXPECT_EQ(c->identity_listen, List{"0.0.0.0:8080"});
  EXPECT_EQ(c->destination_listen, List{"0.0.0.0:8086"});
  EXPECT_EQ(c->export_listen, List{"0.0.0.0:8443"});
  EXPECT_EQ(c->admin_listen, "127.0.0.1:9990");  // loopback unless told otherwise
  EXPECT_EQ(c->handshake_timeout, 5s);
  EXPECT_EQ(c->connection_idle, 5min);
  EXPECT_EQ(c->max_concurrent_streams, 1000u);
  EXPECT_TRUE(c->registration_any_address.empty());
  EXPECT_EQ(c->cert_lifetime, 24h);
  EXPECT_EQ(c->default_policy, policy::v1::ALL_AUTHENTICATED);
  EXPECT_EQ(c->lease, 5s);
  EXPECT_EQ(c->stream_queue, 1024u);
  EXPECT_EQ(c->anchor_cert(), std::filesystem::path("/var/lib/strait/ca/anchor.crt"));
  EXPECT_EQ(c->issuer_key(), std::filesystem::path("/var/lib/strait/ca/issuer.key"));
  EXPECT_EQ(c->token_key(), std::filesystem::path("/var/lib/strait/ca/token-signing.key"));
}

TEST(ControllerConfigTest, EveryFieldIsRead) {
  auto c = from_yaml(
      "cluster:\n"
      "  name: east\n"
      "  domain: east.local\n"
      "  trustDomain: east.example\n"
      "  serviceCIDR: 10.96.0.0/16\n"
      "  inboundProxyPort: 5143\n"
      "stateDir: /tmp/east\n"
      "listen:\n"
      "  identity: [127.0.0.1:0, 198.18.0.3:0]\n"
      "  destination: 127.0.0.1:1\n"
      "  admin: 127.0.0.1:2\n"
      "  export: 198.18.0.3:3,198.18.0.4:3\n"
      "limits:\n"
      "  handshakeTimeout: 2s\n"
      "  connectionIdle: 1m\n"
      "  maxConcurrentStreams: 50\n"
      "identity:\n"
      "  certLifetime: 1h30m\n"
      "policy:\n"
      "  default: deny\n"
      "registration:\n"
      "  lease: 10s\n"
      "  anyAddress: [\"spiffe://east.example/ns/vm/*\"]\n"
      "streams:\n"
      "  queueCapacity: 16\n");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->cluster, "east");
  EXPECT_EQ(c->domain, "east.local");
  EXPECT_EQ(c->trust_domain, "east.example");
  EXPECT_EQ(c->service_cidr, "10.96.0.0/16");
  EXPECT_EQ(c->inbound_proxy_port, 5143);
  using List = std::vector<std::string>;
  EXPECT_EQ(c->identity_listen, (List{"127.0.0.1:0", "198.18.0.3:0"}));
  EXPECT_EQ(c->destination_listen, List{"127.0.0.1:1"});
  EXPECT_EQ(c->admin_listen, "127.0.0.1:2");
  EXPECT_EQ(c->export_listen, (List{"198.18.0.3:3", "198.18.0.4:3"}));
  EXPECT_EQ(c->handshake_timeout, 2s);
  EXPECT_EQ(c->connection_idle, 1min);
  EXPECT_EQ(c->max_concurrent_streams, 50u);
  EXPECT_EQ(c->registration_any_address, List{"spiffe://east.example/ns/vm/*"});
  EXPECT_EQ(c->cert_lifetime, 90min);
  EXPECT_EQ(c->default_policy, policy::v1::DENY);
  EXPECT_EQ(c->lease, 10s);
  EXPECT_EQ(c->stream_queue, 16u);
}

TEST(ControllerConfigTest, DnsDefaultsAndSettings) {
  using List = std::vector<std::string>;
  auto d = from_yaml(std::string(kMinimal));
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->dns.listen, List{"0.0.0.0:53"});
  EXPECT_TRUE(d->dns.upstreams.empty());  // no recursion unless told where to
  EXPECT_EQ(d->dns.recursion_networks, (List{"127.0.0.0/8", "::1/128"}));
  EXPECT_EQ(d->dns.ttl, 5u);
  EXPECT_EQ(d->dns.rate_limit, 1000u);

  auto c =
      from_yaml(with("listen:\n  dns: \"198.18.1.10:53,[::1]:5353\"\n"
                     "dns:\n  upstreams: [\"198.18.1.2\", \"198.18.1.3:5353\"]\n"
                     "  recursionNetworks: [\"198.18.1.0/24\"]\n  ttl: 30\n  rateLimit: 0\n"
                     "  maxTCPConnections: 8\n  tcpIdleTimeout: 2s\n  forwardTimeout: 500ms\n"
                     "  maxOutstanding: 50\n  cacheSize: 0\n"));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->dns.listen, (List{"198.18.1.10:53", "[::1]:5353"}));
  EXPECT_EQ(c->dns.upstreams, (List{"198.18.1.2", "198.18.1.3:5353"}));
  EXPECT_EQ(c->dns.recursion_networks, List{"198.18.1.0/24"});
  EXPECT_EQ(c->dns.ttl, 30u);
  EXPECT_EQ(c->dns.rate_limit, 0u);
  EXPECT_EQ(c->dns.max_tcp_connections, 8u);
  EXPECT_EQ(c->dns.tcp_idle, 2s);
  EXPECT_EQ(c->dns.forward_timeout, 500ms);
  EXPECT_EQ(c->dns.max_outstanding, 50u);
  EXPECT_EQ(c->dns.cache_entries, 0u);

  // "" turns the server off.
  auto off = from_yaml(with("listen:\n  dns: \"\"\n"));
  ASSERT_TRUE(off.ok()) << off.error().to_string();
  EXPECT_TRUE(off->dns.listen.empty());
}

TEST(ControllerConfigTest, FlagsOverrideTheFile) {
  auto c = config::Config::from_yaml(std::string(kMinimal));
  ASSERT_TRUE(c.ok());
  std::vector<std::string> flags = {"--policy.default=all-unauthenticated",
                                    "--cluster.inboundProxyPort=4200"};
  ASSERT_TRUE(c->apply_flags(flags).ok());
  auto cfg = ControllerConfig::from(*c);
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  EXPECT_EQ(cfg->default_policy, policy::v1::ALL_UNAUTHENTICATED);
  EXPECT_EQ(cfg->inbound_proxy_port, 4200);
}

TEST(ControllerConfigTest, CertLifetimeOfTenSecondsIsTheMinimum) {
  auto c = from_yaml(with("identity:\n  certLifetime: 10s\n"));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->cert_lifetime, 10s);
}

struct Invalid {
  std::string yaml;
  std::string path;  // the field the error must name
};

TEST(ControllerConfigTest, InvalidFieldsAreRefusedNamingTheirPath) {
  const std::vector<Invalid> cases = {
      {"cluster:\n  trustDomain: west.example\nstateDir: /x\n", "cluster.name"},
      {"cluster:\n  name: west\nstateDir: /x\n", "cluster.trustDomain"},
      {"cluster:\n  name: west\n  trustDomain: west.example\n", "stateDir"},
      {"cluster:\n  name: west\n  trustDomain: \"Not A Domain!\"\nstateDir: /x\n",
       "cluster.trustDomain"},
      {"cluster:\n  name: west\n  trustDomain: spiffe://west.example\nstateDir: /x\n",
       "cluster.trustDomain"},
      {"cluster:\n  name: west\n  trustDomain: west.example\n  inboundProxyPort: 0\nstateDir: /x\n",
       "cluster.inboundProxyPort"},
      {"cluster:\n  name: west\n  trustDomain: west.example\n  inboundProxyPort: 70000\n"
       "stateDir: /x\n",
       "cluster.inboundProxyPort"},
      {"cluster:\n  name: west\n  trustDomain: west.example\n  inboundProxyPort: -1\n"
       "stateDir: /x\n",
       "cluster.inboundProxyPort"},
      {"cluster:\n  name: west\n  trustDomain: west.example\n  inboundProxyPort: http\n"
       "stateDir: /x\n",
       "cluster.inboundProxyPort"},
      {with("identity:\n  certLifetime: 9s\n"), "identity.certLifetime"},
      {with("identity:\n  certLifetime: 9999ms\n"), "identity.certLifetime"},
      {with("identity:\n  certLifetime: 0\n"), "identity.certLifetime"},
      {with("identity:\n  certLifetime: 3600\n"), "identity.certLifetime"},  // no unit
      {with("policy:\n  default: bogus\n"), "policy.default"},
      {with("policy:\n  default: DENY\n"), "policy.default"},
      {with("registration:\n  lease: 500ms\n"), "registration.lease"},
      {with("streams:\n  queueCapacity: 0\n"), "streams.queueCapacity"},
      {with("listen:\n  dns: \"nope\"\n"), "listen.dns"},
      {with("dns:\n  recursionNetworks: [\"10.0.0.0/33\"]\n"), "dns.recursionNetworks"},
      {with("dns:\n  ttl: -1\n"), "dns.ttl"},
      {with("dns:\n  rateLimit: lots\n"), "dns.rateLimit"},
      {with("dns:\n  maxTCPConnections: 0\n"), "dns.maxTCPConnections"},
      {with("dns:\n  maxOutstanding: 0\n"), "dns.maxOutstanding"},
      {with("dns:\n  tcpIdleTimeout: 10ms\n"), "tcpIdleTimeout"},
      {with("dns:\n  forwardTimeout: 10\n"), "dns.forwardTimeout"},  // no unit
  };
  for (const auto& c : cases) {
    auto r = from_yaml(c.yaml);
    ASSERT_FALSE(r.ok()) << "accepted:\n" << c.yaml;
    EXPECT_NE(r.error().message.find(c.path), std::string::npos)
        << "error for " << c.path << " does not name it: " << r.error().to_string();
  }
}

TEST(ControllerConfigTest, InvalidValuesUseTheInvalidFieldCode) {
  for (std::string yaml :
       {with("policy:\n  default: bogus\n"), with("identity:\n  certLifetime: 5s\n"),
        std::string("cluster:\n  name: west\n  trustDomain: \"bad domain\"\nstateDir: /x\n"),
        std::string("cluster:\n  name: west\n  trustDomain: west.example\n  inboundProxyPort: 0\n"
                    "stateDir: /x\n")}) {
    auto r = from_yaml(yaml);
    ASSERT_FALSE(r.ok()) << yaml;
    EXPECT_EQ(r.error().code, "invalid_field") << r.error().to_string();
  }
}

TEST(ControllerConfigTest, DefaultPolicyNames) {
  EXPECT_EQ(*parse_default_policy("all-authenticated"), policy::v1::ALL_AUTHENTICATED);
  EXPECT_EQ(*parse_default_policy("all-unauthenticated"), policy::v1::ALL_UNAUTHENTICATED);
  EXPECT_EQ(*parse_default_policy("deny"), policy::v1::DENY);
  auto bad = parse_default_policy("allow");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "invalid_field");
}

TEST(ControllerConfigTest, ControlPlaneIdentities) {
  EXPECT_EQ(controller_identity("west.example"),
            "spiffe://west.example/ns/strait-system/sa/strait-controller");
  EXPECT_EQ(admin_identity("west.example"), "spiffe://west.example/ns/strait-system/sa/straitctl");
}

}  // namespace
}  // namespace strait::controlplane
