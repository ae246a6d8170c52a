// Unit tests of the inbound authorization decision: cluster defaults without a Server, each
// kind of identity pattern and network restriction with one, the refusal reasons, and the CIDR
// matcher's edge cases.
#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <string>

#include "sidecar/proxy/authorization.h"

namespace strait::proxy {
namespace {

namespace pv = policy::v1;
using identity::SpiffeId;

SpiffeId id(std::string_view text) {
  auto r = SpiffeId::parse(text);
  if (!r.ok()) throw std::runtime_error(r.error().to_string());
  return *r;
}

const std::optional<SpiffeId> kNone;
const std::optional<SpiffeId> kWeb = id("spiffe://td/ns/shop/sa/web");
const std::optional<SpiffeId> kCart = id("spiffe://td/ns/shop/sa/cart");
const std::optional<SpiffeId> kOther = id("spiffe://td/ns/billing/sa/api");
const std::optional<SpiffeId> kForeign = id("spiffe://other/ns/shop/sa/web");

pv::InboundPolicy defaults(pv::DefaultPolicy d) {
  pv::InboundPolicy p;
  p.set_port(8080);
  p.set_default_policy(d);
  return p;
}

pv::Authorization* add(pv::InboundPolicy& p, std::string name,
                       std::initializer_list<const char*> identities,
                       std::initializer_list<const char*> networks = {},
                       bool unauthenticated = false) {
  auto* a = p.add_authorizations();
  a->set_name(std::move(name));
  for (const char* i : identities) a->add_identities(i);
  for (const char* n : networks) a->add_networks(n);
  a->set_unauthenticated(unauthenticated);
  return a;
}

pv::InboundPolicy server() {
  pv::InboundPolicy p;
  p.set_port(8080);
  p.set_server("web-http");
  p.set_default_policy(pv::DENY);
  return p;
}

void expect_allowed(const Verdict& v, const std::string& by) {
  EXPECT_TRUE(v.allowed) << "reason " << v.reason;
  EXPECT_EQ(v.authorization, by);
  EXPECT_EQ(v.reason, "");
}
void expect_denied(const Verdict& v, const std::string& reason) {
  EXPECT_FALSE(v.allowed) << "by " << v.authorization;
  EXPECT_EQ(v.reason, reason);
  EXPECT_EQ(v.authorization, "");
}

TEST(AuthorizeDefault, AllAuthenticated) {
  auto p = defaults(pv::ALL_AUTHENTICATED);
  expect_allowed(authorize(p, kWeb, "10.0.0.1"), "default:all-authenticated");
  expect_allowed(authorize(p, kForeign, "10.0.0.1"), "default:all-authenticated");
  expect_denied(authorize(p, kNone, "10.0.0.1"), "unauthenticated");
}

TEST(AuthorizeDefault, AllUnauthenticated) {
  auto p = defaults(pv::ALL_UNAUTHENTICATED);
  expect_allowed(authorize(p, kWeb, "10.0.0.1"), "default:all-unauthenticated");
  expect_allowed(authorize(p, kNone, "10.0.0.1"), "default:all-unauthenticated");
}

TEST(AuthorizeDefault, Deny) {
  auto p = defaults(pv::DENY);
  expect_denied(authorize(p, kWeb, "10.0.0.1"), "default_deny");
  expect_denied(authorize(p, kNone, "10.0.0.1"), "default_deny");
}

TEST(AuthorizeDefault, AuthorizationsIgnoredWithoutServer) {
  auto p = defaults(pv::DENY);
  add(p, "open", {}, {}, true);
  expect_denied(authorize(p, kWeb, "10.0.0.1"), "default_deny");
}

TEST(AuthorizeDefault, UnknownEnumValueDenies) {
  auto p = defaults(static_cast<pv::DefaultPolicy>(42));
  expect_denied(authorize(p, kWeb, "10.0.0.1"), "default_deny");
}

TEST(AuthorizeServer, NoAuthorizationsDeniesEveryone) {
  auto p = server();
  expect_denied(authorize(p, kWeb, "10.0.0.1"), "identity_not_allowed");
  expect_denied(authorize(p, kNone, "10.0.0.1"), "unauthenticated");
  // With a Server the default policy field does not open anything.
  p.set_default_policy(pv::ALL_UNAUTHENTICATED);
  expect_denied(authorize(p, kNone, "10.0.0.1"), "unauthenticated");
}

TEST(AuthorizeServer, ExactIdentity) {
  auto p = server();
  add(p, "web-only", {"spiffe://td/ns/shop/sa/web"});
  expect_allowed(authorize(p, kWeb, "10.0.0.1"), "web-only");
  expect_denied(authorize(p, kCart, "10.0.0.1"), "identity_not_allowed");
  expect_denied(authorize(p, kForeign, "10.0.0.1"), "identity_not_allowed");
  expect_denied(authorize(p, kNone, "10.0.0.1"), "unauthenticated");
}

TEST(AuthorizeServer, SuffixPattern) {
  auto p = server();
  add(p, "shop", {"spiffe://td/ns/shop/*"});
  expect_allowed(authorize(p, kWeb, "10.0.0.1"), "shop");
  expect_allowed(authorize(p, kCart, "10.0.0.1"), "shop");
  expect_denied(authorize(p, kOther, "10.0.0.1"), "identity_not_allowed");
  expect_denied(authorize(p, kForeign, "10.0.0.1"), "identity_not_allowed");
  // Strictly below: the prefix itself and a sibling sharing its text do not match.
  expect_denied(authorize(p, id("spiffe://td/ns/shop"), "10.0.0.1"), "identity_not_allowed");
  expect_denied(authorize(p, id("spiffe://td/ns/shopping/sa/x"), "10.0.0.1"),
                "identity_not_allowed");
  expect_denied(authorize(p, kNone, "10.0.0.1"), "unauthenticated");
}

TEST(AuthorizeServer, StarAndEmptyIdentitiesMeanAnyAuthenticated) {
  for (bool star : {true, false}) {
    auto p = server();
    if (star) {
      add(p, "any", {"*"});
    } else {
      add(p, "any", {});
    }
    expect_allowed(authorize(p, kWeb, "10.0.0.1"), "any");
    expect_allowed(authorize(p, kForeign, "10.0.0.1"), "any");
    expect_denied(authorize(p, kNone, "10.0.0.1"), "unauthenticated");
  }
}

TEST(AuthorizeServer, UnauthenticatedAdmitsNoClient) {
  auto p = server();
  add(p, "open", {}, {}, true);
  expect_allowed(authorize(p, kNone, "10.0.0.1"), "open");
  expect_allowed(authorize(p, kWeb, "10.0.0.1"), "open");
}

TEST(AuthorizeServer, InvalidPatternsMatchNothing) {
  auto p = server();
  add(p, "broken", {"not a spiffe id", "spiffe://", "", "spiffe://td/ns/shop/sa/web/"});
  expect_denied(authorize(p, kWeb, "10.0.0.1"), "identity_not_allowed");
}

TEST(AuthorizeServer, SecondAuthorizationCanAdmit) {
  auto p = server();
  add(p, "cart", {"spiffe://td/ns/shop/sa/cart"});
  add(p, "web", {"spiffe://td/ns/billing/sa/api", "spiffe://td/ns/shop/sa/web"});
  expect_allowed(authorize(p, kWeb, "10.0.0.1"), "web");
  expect_allowed(authorize(p, kCart, "10.0.0.1"), "cart");
  expect_allowed(authorize(p, kOther, "10.0.0.1"), "web");
}

TEST(AuthorizeServer, NetworksRestrictSource) {
  auto p = server();
  add(p, "local-web", {"spiffe://td/ns/shop/sa/web"}, {"10.1.0.0/16", "fd00::/64", "192.168.5.5"});
  expect_allowed(authorize(p, kWeb, "10.1.2.3"), "local-web");
  expect_allowed(authorize(p, kWeb, "fd00::1234"), "local-web");
  expect_allowed(authorize(p, kWeb, "192.168.5.5"), "local-web");
  expect_denied(authorize(p, kWeb, "10.2.0.1"), "network_not_allowed");
  expect_denied(authorize(p, kWeb, "fd00:0:0:1::1"), "network_not_allowed");
  expect_denied(authorize(p, kWeb, "192.168.5.6"), "network_not_allowed");
  expect_denied(authorize(p, kWeb, "garbage"), "network_not_allowed");
  // Identity fails first: the network is not the reason.
  expect_denied(authorize(p, kCart, "10.1.2.3"), "identity_not_allowed");
}

TEST(AuthorizeServer, UnauthenticatedWithNetworks) {
  auto p = server();
  add(p, "pods", {}, {"10.0.0.0/8"}, true);
  expect_allowed(authorize(p, kNone, "10.9.9.9"), "pods");
  expect_denied(authorize(p, kNone, "11.0.0.1"), "network_not_allowed");
}

TEST(AuthorizeServer, NetworkMismatchInOneAuthorizationAnotherAdmits) {
  auto p = server();
  add(p, "narrow", {"*"}, {"10.0.0.0/24"});
  add(p, "wide", {"spiffe://td/ns/shop/*"}, {"10.0.0.0/8"});
  expect_allowed(authorize(p, kWeb, "10.5.0.1"), "wide");
  expect_allowed(authorize(p, kOther, "10.0.0.7"), "narrow");
  expect_denied(authorize(p, kOther, "10.5.0.1"), "network_not_allowed");
}

TEST(InNetwork, V4Prefixes) {
  EXPECT_TRUE(in_network("1.2.3.4", "0.0.0.0/0"));
  EXPECT_TRUE(in_network("255.255.255.255", "0.0.0.0/0"));
  EXPECT_TRUE(in_network("10.0.0.1", "10.0.0.1/32"));
  EXPECT_FALSE(in_network("10.0.0.2", "10.0.0.1/32"));
  EXPECT_TRUE(in_network("10.0.0.2", "10.0.0.3/31"));
  EXPECT_TRUE(in_network("10.0.0.3", "10.0.0.2/31"));
  EXPECT_FALSE(in_network("10.0.0.4", "10.0.0.2/31"));
  EXPECT_FALSE(in_network("10.0.0.1", "10.0.0.2/31"));
  EXPECT_TRUE(in_network("172.16.200.1", "172.16.0.0/12"));
  EXPECT_TRUE(in_network("172.31.255.255", "172.16.0.0/12"));
  EXPECT_FALSE(in_network("172.32.0.0", "172.16.0.0/12"));
  EXPECT_TRUE(in_network("10.0.0.1", "10.0.0.1"));  // bare address = /32
  EXPECT_FALSE(in_network("10.0.0.2", "10.0.0.1"));
  EXPECT_TRUE(in_network("128.0.0.0", "128.0.0.0/1"));
  EXPECT_FALSE(in_network("127.255.255.255", "128.0.0.0/1"));
}

TEST(InNetwork, V6Prefixes) {
  EXPECT_TRUE(in_network("2001:db8::1", "2001:db8::/64"));
  EXPECT_TRUE(in_network("2001:db8::ffff:ffff:ffff:ffff", "2001:db8::/64"));
  EXPECT_FALSE(in_network("2001:db8:0:1::", "2001:db8::/64"));
  EXPECT_TRUE(in_network("::1", "::1/128"));
  EXPECT_TRUE(in_network("::1", "::1"));
  EXPECT_FALSE(in_network("::2", "::1/128"));
  EXPECT_TRUE(in_network("fe80::1", "::/0"));
  EXPECT_TRUE(in_network("2001:db8::1", "2001:db8::/33"));
  EXPECT_FALSE(in_network("2001:db8:8000::1", "2001:db8::/33"));
}

TEST(InNetwork, MismatchedFamilies) {
  EXPECT_FALSE(in_network("10.0.0.1", "::/0"));
  EXPECT_FALSE(in_network("::1", "0.0.0.0/0"));
  EXPECT_FALSE(in_network("::ffff:10.0.0.1", "10.0.0.0/8"));
}

TEST(InNetwork, GarbageNeverMatches) {
  EXPECT_FALSE(in_network("", "10.0.0.0/8"));
  EXPECT_FALSE(in_network("garbage", "10.0.0.0/8"));
  EXPECT_FALSE(in_network("10.0.0.1", ""));
  EXPECT_FALSE(in_network("10.0.0.1", "garbage"));
  EXPECT_FALSE(in_network("10.0.0.1", "10.0.0.0/33"));
  EXPECT_FALSE(in_network("10.0.0.1", "10.0.0.0/-1"));
  EXPECT_FALSE(in_network("::1", "::/129"));
  EXPECT_FALSE(in_network("10.0.0.1.5", "10.0.0.0/8"));
  EXPECT_FALSE(in_network("10.0.0.1", "10.0.0.0.0/8"));
}

TEST(InNetwork, MalformedPrefixLengthIsRefused) {
  EXPECT_FALSE(in_network("192.168.1.1", "10.0.0.0/"));
  EXPECT_FALSE(in_network("192.168.1.1", "10.0.0.0/abc"));
  EXPECT_FALSE(in_network("10.9.9.9", "10.0.0.0/8x"));
  EXPECT_FALSE(in_network("10.9.9.9", "10.0.0.0/ 8"));
}

}  // namespace
}  // namespace strait::proxy
