// SPIFFE ID parsing against the spec's valid/invalid forms, and identity pattern matching.
#include "core/identity/spiffe_id.h"

#include <gtest/gtest.h>

namespace strait::identity {
namespace {

SpiffeId id(std::string_view text) {
  Result<SpiffeId> parsed = SpiffeId::parse(text);
  EXPECT_TRUE(parsed.ok()) << text;
  return std::move(parsed).value();
}

class ValidSpiffeId : public ::testing::TestWithParam<const char*> {};

TEST_P(ValidSpiffeId, ParsesAndRoundTrips) {
  Result<SpiffeId> parsed = SpiffeId::parse(GetParam());
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  EXPECT_EQ(parsed->to_string(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Spec, ValidSpiffeId,
                         ::testing::Values("spiffe://example.org",
                                           "spiffe://example.org/ns/shop/sa/web",
                                           "spiffe://a-b_c.9/x",
                                           "spiffe://td/Upper.Case-ok_1/.../a..b",
                                           "spiffe://td/.hidden"));

class InvalidSpiffeId : public ::testing::TestWithParam<const char*> {};

TEST_P(InvalidSpiffeId, IsRefused) {
  Result<SpiffeId> parsed = SpiffeId::parse(GetParam());
  ASSERT_FALSE(parsed.ok()) << GetParam();
  EXPECT_EQ(parsed.error().code, "invalid_spiffe_id");
}

INSTANTIATE_TEST_SUITE_P(
    Spec, InvalidSpiffeId,
    ::testing::Values("", "spiffe://", "spiffe:///path", "http://example.org/x",
                      "SPIFFE://example.org/x", "spiffe:/example.org/x", "spiffe://Example.org/x",
                      "spiffe://example.org:8443/x", "spiffe://user@example.org/x",
                      "spiffe://exa%20mple.org/x", "spiffe://example.org/",
                      "spiffe://example.org//x", "spiffe://example.org/x/",
                      "spiffe://example.org/./x", "spiffe://example.org/x/..",
                      "spiffe://example.org/x?query=1", "spiffe://example.org/x#frag",
                      "spiffe://example.org/a%2Fb", "spiffe://example.org/a b",
                      "spiffe://example.org/*", "spiffe://example.org\\x"));

TEST(SpiffeIdTest, RefusesIdsLongerThan2048Bytes) {
  const std::string prefix = "spiffe://td/";
  EXPECT_TRUE(SpiffeId::parse(prefix + std::string(2048 - prefix.size(), 'a')).ok());
  EXPECT_FALSE(SpiffeId::parse(prefix + std::string(2049 - prefix.size(), 'a')).ok());
}

TEST(SpiffeIdTest, ExposesParts) {
  SpiffeId parsed = id("spiffe://west.example/ns/shop/sa/web");
  EXPECT_EQ(parsed.trust_domain(), "west.example");
  EXPECT_EQ(parsed.path(), "/ns/shop/sa/web");
  EXPECT_EQ(parsed.ns(), "shop");
  EXPECT_EQ(parsed.service_account(), "web");
}

TEST(SpiffeIdTest, WorkloadBuildsTheMeshShape) {
  SpiffeId built = SpiffeId::workload("west.example", "shop", "web");
  EXPECT_EQ(built.to_string(), "spiffe://west.example/ns/shop/sa/web");
  EXPECT_EQ(built, id("spiffe://west.example/ns/shop/sa/web"));
}

TEST(SpiffeIdTest, NamespaceOnlyForTheWorkloadShape) {
  for (const char* text : {"spiffe://td", "spiffe://td/ns/shop", "spiffe://td/ns/shop/sa/web/extra",
                           "spiffe://td/ns/shop/xx/web", "spiffe://td/xx/shop/sa/web"}) {
    SpiffeId other = id(text);
    EXPECT_EQ(other.ns(), std::nullopt) << text;
    EXPECT_EQ(other.service_account(), std::nullopt) << text;
  }
}

TEST(SpiffeIdTest, OrdersAndCompares) {
  EXPECT_EQ(id("spiffe://td/a"), id("spiffe://td/a"));
  EXPECT_NE(id("spiffe://td/a"), id("spiffe://td/b"));
  EXPECT_NE(id("spiffe://td1/a"), id("spiffe://td/a"));
  EXPECT_LT(id("spiffe://td/a"), id("spiffe://td/b"));
}

TEST(SpiffeIdTest, ValidatesTrustDomains) {
  EXPECT_TRUE(SpiffeId::is_valid_trust_domain("west.example"));
  EXPECT_FALSE(SpiffeId::is_valid_trust_domain(""));
  EXPECT_FALSE(SpiffeId::is_valid_trust_domain("West.example"));
  EXPECT_FALSE(SpiffeId::is_valid_trust_domain("west.example/x"));
}

IdentityPattern pattern(std::string_view text) {
  Result<IdentityPattern> parsed = IdentityPattern::parse(text);
  EXPECT_TRUE(parsed.ok()) << text;
  return std::move(parsed).value();
}

TEST(IdentityPatternTest, AnyMatchesEveryIdentity) {
  IdentityPattern any = pattern("*");
  EXPECT_TRUE(any.matches(id("spiffe://td/ns/shop/sa/web")));
  EXPECT_TRUE(any.matches(id("spiffe://other")));
  EXPECT_EQ(any.to_string(), "*");
  EXPECT_EQ(any, IdentityPattern::any());
}

TEST(IdentityPatternTest, ExactMatchesOnlyThatIdentity) {
  IdentityPattern exact = pattern("spiffe://td/ns/shop/sa/web");
  EXPECT_TRUE(exact.matches(id("spiffe://td/ns/shop/sa/web")));
  EXPECT_FALSE(exact.matches(id("spiffe://td/ns/shop/sa/web2")));
  EXPECT_FALSE(exact.matches(id("spiffe://td2/ns/shop/sa/web")));
  EXPECT_EQ(exact.to_string(), "spiffe://td/ns/shop/sa/web");
}

TEST(IdentityPatternTest, SuffixWildcardMatchesIdsBelowThePrefix) {
  IdentityPattern shop = pattern("spiffe://td/ns/shop/*");
  EXPECT_TRUE(shop.matches(id("spiffe://td/ns/shop/sa/web")));
  EXPECT_TRUE(shop.matches(id("spiffe://td/ns/shop/x")));
  EXPECT_FALSE(shop.matches(id("spiffe://td/ns/shop")));
  EXPECT_FALSE(shop.matches(id("spiffe://td/ns/shopping/sa/web")));
  EXPECT_FALSE(shop.matches(id("spiffe://other/ns/shop/sa/web")));
  EXPECT_EQ(shop.to_string(), "spiffe://td/ns/shop/*");
}

TEST(IdentityPatternTest, WholeTrustDomainWildcard) {
  IdentityPattern td = pattern("spiffe://td/*");
  EXPECT_TRUE(td.matches(id("spiffe://td/ns/shop/sa/web")));
  EXPECT_FALSE(td.matches(id("spiffe://td2/ns/shop/sa/web")));
}

TEST(IdentityPatternTest, RefusesMisplacedWildcards) {
  for (const char* text :
       {"", "**", "spiffe://td/ns/*/sa/web", "spiffe://td/ns/sh*", "spiffe://*/ns/x",
        "spiffe://td/ns/shop/*/", "spiffe://td/ns/shop//*", "shop/*"}) {
    Result<IdentityPattern> parsed = IdentityPattern::parse(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().code, "invalid_identity_pattern");
  }
}

}  // namespace
}  // namespace strait::identity
