// parse_target: service names, address literals, names outside the cluster domain, and refusals.
#include <gtest/gtest.h>

#include "controlplane/destination/target.h"

namespace strait::controlplane {
namespace {

constexpr std::string_view kDomain = "cluster.local";

Target ok(std::string_view path) {
  auto t = parse_target(path, kDomain);
  EXPECT_TRUE(t.ok()) << path << ": " << (t.ok() ? "" : t.error().to_string());
  return t.ok() ? *t : Target{};
}

TEST(TargetTest, ServiceName) {
  Target t = ok("web.shop.svc.cluster.local:80");
  EXPECT_EQ(t.type, Target::Type::kService);
  EXPECT_EQ(t.name, "web");
  EXPECT_EQ(t.ns, "shop");
  EXPECT_EQ(t.port, 80);
  EXPECT_TRUE(t.ip.empty());
}

TEST(TargetTest, ServiceNameWithTrailingDot) {
  Target t = ok("web.shop.svc.cluster.local.:8080");
  EXPECT_EQ(t.type, Target::Type::kService);
  EXPECT_EQ(t.name, "web");
  EXPECT_EQ(t.ns, "shop");
  EXPECT_EQ(t.port, 8080);
}

TEST(TargetTest, OtherClusterDomain) {
  auto t = parse_target("api.prod.svc.east.local:443", "east.local");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->type, Target::Type::kService);
  EXPECT_EQ(t->name, "api");
  EXPECT_EQ(t->ns, "prod");
  EXPECT_EQ(t->port, 443);
  // The same name seen from a cluster with another domain is outside it.
  EXPECT_EQ(ok("api.prod.svc.east.local:443").type, Target::Type::kOutside);
}

TEST(TargetTest, Ipv4Address) {
  Target t = ok("1.2.3.4:80");
  EXPECT_EQ(t.type, Target::Type::kAddress);
  EXPECT_EQ(t.ip, "1.2.3.4");
  EXPECT_EQ(t.port, 80);
}

TEST(TargetTest, Ipv6AddressIsNormalized) {
  Target t = ok("[::1]:80");
  EXPECT_EQ(t.type, Target::Type::kAddress);
  EXPECT_EQ(t.ip, "::1");
  EXPECT_EQ(t.port, 80);

  Target long_form = ok("[2001:DB8:0:0:0:0:0:1]:443");
  EXPECT_EQ(long_form.type, Target::Type::kAddress);
  EXPECT_EQ(long_form.ip, "2001:db8::1");
  EXPECT_EQ(long_form.port, 443);

  EXPECT_EQ(ok("[0:0::1]:1").ip, "::1");
}

TEST(TargetTest, NamesOutsideTheDomainAreOutside) {
  for (std::string_view path :
       {"example.com:443", "web.shop:80", "web:80", "web.shop.svc.other.local:80",
        "a.b.c.svc.cluster.local:80",  // three labels before .svc
        ".shop.svc.cluster.local:80", "web.svc.cluster.local:80", "svc.cluster.local:80",
        "cluster.local:80", "web.shop.svc.cluster.local.evil.com:80"}) {
    Target t = ok(path);
    EXPECT_EQ(t.type, Target::Type::kOutside) << path;
    EXPECT_TRUE(t.name.empty()) << path;
    EXPECT_TRUE(t.ns.empty()) << path;
  }
}

TEST(TargetTest, RefusesMalformedPaths) {
  for (std::string_view path :
       {"web.shop.svc.cluster.local",        // no port
        "web.shop.svc.cluster.local:",       // empty port
        "web.shop.svc.cluster.local:0",      // port 0
        "web.shop.svc.cluster.local:70000",  // out of range
        "web.shop.svc.cluster.local:65536", "web.shop.svc.cluster.local:http",
        "web.shop.svc.cluster.local:-1", "web.shop.svc.cluster.local:+80",
        "web.shop.svc.cluster.local:80x", "web.shop.svc.cluster.local: 80", "1.2.3.4:99999",
        ":80",  // empty host
        "", "[::1", "[::1]", "[::1]80", "[]:80", "[::1]:", "[::1]:0"}) {
    auto t = parse_target(path, kDomain);
    ASSERT_FALSE(t.ok()) << "accepted \"" << path << "\"";
    EXPECT_EQ(t.error().code, "invalid_path") << path;
  }
}

TEST(TargetTest, PortBoundaries) {
  EXPECT_EQ(ok("1.2.3.4:1").port, 1);
  EXPECT_EQ(ok("1.2.3.4:65535").port, 65535);
}

TEST(TargetTest, RefusesOverlongPaths) {
  std::string path(600, 'a');
  path += ".shop.svc.cluster.local:80";
  auto t = parse_target(path, kDomain);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, "invalid_path");
}

}  // namespace
}  // namespace strait::controlplane
