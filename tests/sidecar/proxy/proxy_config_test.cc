// Unit tests of ProxyConfig::from: a minimal file, the defaults it implies, overrides, and the
// invalid values (each error naming the offending key).
#include <gtest/gtest.h>

#include <string>

#include "sidecar/proxy/proxy_config.h"
#include "sidecar/proxy/detect.h"

namespace strait::proxy {
namespace {

using namespace std::chrono_literals;

constexpr const char* kMinimal = R"(
identity:
  trustDomain: west.example
  namespace: shop
  serviceAccount: web
  trustAnchors: /etc/strait/anchors.pem
controller:
  identity: strait-identity.strait:8080
  destination: strait-destination.strait:8086
)";

Result<ProxyConfig> parse(const std::string& yaml) {
  auto c = config::Config::from_yaml(yaml);
  if (!c.ok()) return c.error();
  return ProxyConfig::from(*c);
}

// The error of a config that must fail; "" if it did not.
std::string error_of(const std::string& yaml) {
  auto r = parse(yaml);
  if (r.ok()) return "";
  return r.error().to_string();
}

TEST(ProxyConfig, MinimalAndDefaults) {
  auto r = parse(kMinimal);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const ProxyConfig& p = *r;
  EXPECT_EQ(p.trust_domain, "west.example");
  EXPECT_EQ(p.ns, "shop");
  EXPECT_EQ(p.service_account, "web");
  EXPECT_EQ(p.trust_anchors_file, "/etc/strait/anchors.pem");
  EXPECT_EQ(p.identity_address, "strait-identity.strait:8080");
  EXPECT_EQ(p.destination_address, "strait-destination.strait:8086");
  EXPECT_EQ(p.token_file, "");
  EXPECT_EQ(p.cluster_domain, "cluster.local");
  EXPECT_EQ(p.outbound_listen, "127.0.0.1:4140");
  EXPECT_EQ(p.inbound_listen, "0.0.0.0:4143");
  EXPECT_EQ(p.admin_listen, "0.0.0.0:4191");
  EXPECT_EQ(p.explicit_listen, "");  // explicit mode off
  EXPECT_EQ(p.inbound_forward_address, "127.0.0.1");
  EXPECT_TRUE(p.labels.empty());
  EXPECT_TRUE(p.inbound_ports.empty());
  EXPECT_FALSE(p.register_service.has_value());
  EXPECT_EQ(p.register_port, 0);
  EXPECT_EQ(p.zone, "");
  EXPECT_EQ(p.outbound_connect_timeout, 1000ms);
  EXPECT_EQ(p.inbound_connect_timeout, 300ms);
  EXPECT_EQ(p.handshake_timeout, 10s);
  EXPECT_EQ(p.fail_fast, 3s);
  EXPECT_EQ(p.idle_timeout, 1h);
  EXPECT_EQ(p.destination_idle, 60s);
  EXPECT_EQ(p.drain_timeout, 30s);
  EXPECT_EQ(p.max_connections, 10'000u);
  EXPECT_EQ(p.max_header_bytes, 1024u);
}

TEST(ProxyConfig, EachRequiredKeyIsNamedWhenMissing) {
  for (const char* key : {"trustDomain", "namespace", "serviceAccount", "trustAnchors"}) {
    std::string yaml = kMinimal;
    auto at = yaml.find(std::string("  ") + key + ":");
    ASSERT_NE(at, std::string::npos);
    yaml.erase(at, yaml.find('\n', at) - at + 1);
    std::string e = error_of(yaml);
    EXPECT_NE(e.find(std::string("identity.") + key), std::string::npos) << key << ": " << e;
  }
  for (const char* key : {"identity", "destination"}) {
    std::string yaml = kMinimal;
    auto at = yaml.find(std::string("  ") + key + ": strait");
    ASSERT_NE(at, std::string::npos);
    yaml.erase(at, yaml.find('\n', at) - at + 1);
    std::string e = error_of(yaml);
    EXPECT_NE(e.find(std::string("controller.") + key), std::string::npos) << key << ": " << e;
  }
  // Present but empty is as good as missing.
  std::string yaml = kMinimal;
  yaml.replace(yaml.find("west.example"), 12, "\"\"");
  EXPECT_NE(error_of(yaml).find("identity.trustDomain"), std::string::npos);
  EXPECT_NE(error_of("").find("identity."), std::string::npos);
}

TEST(ProxyConfig, Overrides) {
  auto r = parse(std::string(kMinimal) + R"(
cluster:
  domain: east.local
listen:
  outbound: 127.0.0.1:5140
  inbound: 0.0.0.0:5143
  admin: 127.0.0.1:5191
workload:
  ports: ["8080", 9090]
  zone: z1
  labels:
    app: web
    tier: front
register:
  service: web
  port: 8080
  name: web-0
  address: 10.0.0.5
timeouts:
  outboundConnect: 2s
  inboundConnect: 150ms
  handshake: 5s
  failFast: 1s
  idle: 10m
  destinationIdle: 1m30s
  drain: 0
limits:
  maxConnections: 7
  maxHeaderBytes: 16
)");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const ProxyConfig& p = *r;
  EXPECT_EQ(p.cluster_domain, "east.local");
  EXPECT_EQ(p.outbound_listen, "127.0.0.1:5140");
  EXPECT_EQ(p.inbound_listen, "0.0.0.0:5143");
  EXPECT_EQ(p.admin_listen, "127.0.0.1:5191");
  EXPECT_EQ(p.inbound_ports, (std::vector<std::uint16_t>{8080, 9090}));
  EXPECT_EQ(p.zone, "z1");
  EXPECT_EQ(p.labels.size(), 2u);
  EXPECT_EQ(p.labels.at("app"), "web");
  EXPECT_EQ(p.labels.at("tier"), "front");
  ASSERT_TRUE(p.register_service.has_value());
  EXPECT_EQ(*p.register_service, "web");
  EXPECT_EQ(p.register_port, 8080);
  EXPECT_EQ(p.register_name, "web-0");
  EXPECT_EQ(p.register_address, "10.0.0.5");
  EXPECT_EQ(p.outbound_connect_timeout, 2s);
  EXPECT_EQ(p.inbound_connect_timeout, 150ms);
  EXPECT_EQ(p.handshake_timeout, 5s);
  EXPECT_EQ(p.fail_fast, 1s);
  EXPECT_EQ(p.idle_timeout, 10min);
  EXPECT_EQ(p.destination_idle, 90s);
  EXPECT_EQ(p.drain_timeout, 0ms);
  EXPECT_EQ(p.max_connections, 7u);
  EXPECT_EQ(p.max_header_bytes, 16u);
}

TEST(ProxyConfig, PortsAsCommaSeparatedScalar) {
  auto r = parse(std::string(kMinimal) + "workload:\n  ports: \"80, 443\"\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->inbound_ports, (std::vector<std::uint16_t>{80, 443}));
}

TEST(ProxyConfig, InvalidPortEntry) {
  for (const char* bad : {"x", "0", "65536", "-1"}) {
    std::string e =
        error_of(std::string(kMinimal) + "workload:\n  ports: [\"8080\", \"" + bad + "\"]\n");
    EXPECT_NE(e.find("invalid_field"), std::string::npos) << bad << ": " << e;
    EXPECT_NE(e.find("workload.ports"), std::string::npos) << bad << ": " << e;
    EXPECT_NE(e.find(std::string("\"") + bad + "\""), std::string::npos) << bad << ": " << e;
  }
  std::string e = error_of(std::string(kMinimal) + "workload:\n  ports: [[1]]\n");
  EXPECT_NE(e.find("workload.ports"), std::string::npos) << e;
}

TEST(ProxyConfig, PortWithTrailingJunkIsRefused) {
  for (const char* bad : {"80abc", "8080.5", "1e3"}) {
    std::string e = error_of(std::string(kMinimal) + "workload:\n  ports: [\"" + bad + "\"]\n");
    EXPECT_NE(e.find("workload.ports"), std::string::npos) << bad << ": " << e;
  }
}

TEST(ProxyConfig, RegisterPortRequiredWithService) {
  for (const char* port : {"0", "-5", "70000"}) {
    std::string e =
        error_of(std::string(kMinimal) + "register:\n  service: web\n  port: " + port + "\n");
    EXPECT_NE(e.find("register.port"), std::string::npos) << port << ": " << e;
  }
  std::string e = error_of(std::string(kMinimal) + "register:\n  service: web\n");
  EXPECT_NE(e.find("register.port"), std::string::npos) << e;
  // Without a service the port is ignored.
  auto r = parse(std::string(kMinimal) + "register:\n  port: 0\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_FALSE(r->register_service.has_value());
  // A non-integer port is a typed error naming the key.
  e = error_of(std::string(kMinimal) + "register:\n  service: web\n  port: http\n");
  EXPECT_NE(e.find("register.port"), std::string::npos) << e;
}

TEST(ProxyConfig, RegisterSeveralPorts) {
  auto r = parse(std::string(kMinimal) + "register:\n  service: db\n  ports: [6379, 16379]\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->register_port, 0);
  EXPECT_EQ(r->register_ports, (std::vector<std::uint16_t>{6379, 16379}));
  std::string e = error_of(std::string(kMinimal) +
                           "register:\n  service: db\n  port: 6379\n  ports: [16379]\n");
  EXPECT_NE(e.find("not both"), std::string::npos) << e;
  e = error_of(std::string(kMinimal) + "register:\n  service: db\n  ports: [6379, x]\n");
  EXPECT_NE(e.find("register.ports: \"x\" is not a port"), std::string::npos) << e;
}

TEST(ProxyConfig, Limits) {
  for (const char* v : {"5", "15", "65536", "-1"}) {
    std::string e = error_of(std::string(kMinimal) + "limits:\n  maxHeaderBytes: " + v + "\n");
    EXPECT_NE(e.find("limits.maxHeaderBytes"), std::string::npos) << v << ": " << e;
  }
  auto ok = parse(std::string(kMinimal) + "limits:\n  maxHeaderBytes: 65535\n");
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_EQ(ok->max_header_bytes, 65535u);
  for (const char* v : {"0", "-3"}) {
    std::string e = error_of(std::string(kMinimal) + "limits:\n  maxConnections: " + v + "\n");
    EXPECT_NE(e.find("limits.maxConnections"), std::string::npos) << v << ": " << e;
  }
  std::string e = error_of(std::string(kMinimal) + "limits:\n  maxConnections: lots\n");
  EXPECT_NE(e.find("limits.maxConnections"), std::string::npos) << e;
}

TEST(ProxyConfig, DetectionAndBalancer) {
  auto d = parse(std::string(kMinimal));
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->detect_timeout, std::chrono::seconds(10));
  EXPECT_EQ(d->opaque_ports, default_opaque_ports());
  EXPECT_EQ(d->balancer_default_rtt, std::chrono::milliseconds(30));
  EXPECT_EQ(d->balancer_decay, std::chrono::seconds(10));

  auto o = parse(std::string(kMinimal) +
                 "timeouts:\n  detect: 2s\nprotocol:\n  opaquePorts: [5432, 7000]\n"
                 "balancer:\n  defaultRtt: 5ms\n  decay: 1s\n");
  ASSERT_TRUE(o.ok()) << o.error().to_string();
  EXPECT_EQ(o->detect_timeout, std::chrono::seconds(2));
  EXPECT_EQ(o->opaque_ports, (std::set<std::uint16_t>{5432, 7000}));
  EXPECT_EQ(o->balancer_default_rtt, std::chrono::milliseconds(5));
  EXPECT_EQ(o->balancer_decay, std::chrono::seconds(1));
  auto none = parse(std::string(kMinimal) + "protocol:\n  opaquePorts: []\n");
  ASSERT_TRUE(none.ok()) << none.error().to_string();
  EXPECT_TRUE(none->opaque_ports.empty());

  EXPECT_NE(error_of(std::string(kMinimal) + "protocol:\n  opaquePorts: [080]\n")
                .find("protocol.opaquePorts"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + "balancer:\n  decay: 1ms\n").find("balancer"),
            std::string::npos);
}

TEST(ProxyConfig, BadDurationNamesKey) {
  std::string e = error_of(std::string(kMinimal) + "timeouts:\n  idle: 30\n");
  EXPECT_NE(e.find("timeouts.idle"), std::string::npos) << e;
  e = error_of(std::string(kMinimal) + "timeouts:\n  handshake: soon\n");
  EXPECT_NE(e.find("timeouts.handshake"), std::string::npos) << e;
}

TEST(ProxyConfig, NonScalarLabelIsAnErrorNotAnException) {
  std::string yaml = std::string(kMinimal) + "workload:\n  labels:\n    app: {nested: x}\n";
  bool threw = false;
  std::string e;
  try {
    e = error_of(yaml);
  } catch (const std::exception&) {
    threw = true;
  }
  ASSERT_FALSE(threw) << "a bad label value must be an error, not an exception";
  EXPECT_NE(e.find("workload.labels"), std::string::npos) << e;
}

TEST(ProxyConfig, ExplicitModeKeys) {
  auto r = parse(std::string(kMinimal) +
                 "listen:\n  explicit: 127.0.1.12:4140\ninbound:\n  forwardAddress: 127.0.1.12\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->explicit_listen, "127.0.1.12:4140");
  EXPECT_EQ(r->inbound_forward_address, "127.0.1.12");
  // Port 0 (any free port), IPv6, and the --flag form.
  r = parse(std::string(kMinimal) +
            "listen:\n  explicit: \"[::1]:0\"\ninbound:\n  forwardAddress: \"[::1]\"\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->explicit_listen, "[::1]:0");
  EXPECT_EQ(r->inbound_forward_address, "::1");  // brackets dropped: an address, not host:port
}

TEST(ProxyConfig, ExplicitListenMustBeIpPort) {
  for (const char* bad : {"4140", "localhost:4140", "127.0.1.12", "127.0.1.12:", "127.0.1.12:http",
                          "127.0.1.12:70000", "127.0.1.12:-1", ":4140"}) {
    std::string e = error_of(std::string(kMinimal) + "listen:\n  explicit: \"" + bad + "\"\n");
    EXPECT_NE(e.find("listen.explicit"), std::string::npos) << bad << ": " << e;
    EXPECT_NE(e.find(bad), std::string::npos) << bad << ": " << e;
  }
  std::string e = error_of(std::string(kMinimal) +
                           "listen:\n  outbound: 127.0.0.1:4140\n  explicit: 127.0.0.1:4140\n");
  EXPECT_NE(e.find("same address as listen.outbound"), std::string::npos) << e;
}

TEST(ProxyConfig, InboundForwardAddressMustBeAUnicastIp) {
  for (const char* bad :
       {"localhost", "127.0.0.1:8080", "0.0.0.0", "::", "224.0.0.1", "300.1.1.1"}) {
    std::string e =
        error_of(std::string(kMinimal) + "inbound:\n  forwardAddress: \"" + bad + "\"\n");
    EXPECT_NE(e.find("inbound.forwardAddress"), std::string::npos) << bad << ": " << e;
  }
  EXPECT_NE(error_of(std::string(kMinimal) + "inbound:\n  forwardAddress: \"\"\n")
                .find("inbound.forwardAddress"),
            std::string::npos);
}

}  // namespace
}  // namespace strait::proxy
