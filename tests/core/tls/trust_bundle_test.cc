// Trust bundles: chain verification, expiry, scoping to trust domains, SPIFFE ID presence.
#include <gtest/gtest.h>

#include "core/tls/trust_bundle.h"
#include "tests/core/tls/pki_fixture.h"

namespace strait::tls {
namespace {

using namespace std::chrono_literals;
using testing::must;
using testing::spiffe;

std::string verify_error(
    const TrustBundle& bundle, const Credentials& creds,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) {
  Result<identity::SpiffeId> id = bundle.verify(creds.leaf, creds.chain, now);
  return id.ok() ? "ok" : id.error().code;
}

TEST(TrustBundleTest, VerifiesAnchorIssuerLeafChain) {
  testing::Cluster west("west.example");
  Credentials creds = west.credentials("shop", "web");
  EXPECT_EQ(must(west.bundle.verify(creds.leaf, creds.chain)), west.workload("shop", "web"));
}

TEST(TrustBundleTest, MissingIntermediateIsUntrusted) {
  testing::Cluster west("west.example");
  Credentials creds = west.credentials("shop", "web");
  creds.chain.clear();
  EXPECT_EQ(verify_error(west.bundle, creds), "untrusted_chain");
}

TEST(TrustBundleTest, LeafFromAnotherRootIsUntrusted) {
  testing::Cluster west("west.example");
  testing::Cluster rogue("west.example");  // same names, different keys
  EXPECT_EQ(verify_error(west.bundle, rogue.credentials("shop", "web")), "untrusted_chain");
}

TEST(TrustBundleTest, ExpiredLeaf) {
  testing::Cluster west("west.example");
  Credentials creds = west.credentials("shop", "web");  // 24 h
  EXPECT_EQ(verify_error(west.bundle, creds, std::chrono::system_clock::now() + 24h * 2),
            "expired");
  EXPECT_EQ(verify_error(west.bundle, creds, std::chrono::system_clock::now() - 1h),
            "not_yet_valid");
}

TEST(TrustBundleTest, ScopedRootTrustsOnlyItsTrustDomain) {
  testing::Cluster west("west.example");
  testing::Cluster east("east.example");
  TrustBundle bundle = must(TrustBundle::from_pem(west.root.cert().to_pem()));
  ASSERT_TRUE(bundle.add_pem(east.root.cert().to_pem(), "east.example").ok());
  EXPECT_EQ(bundle.size(), 2u);
  EXPECT_EQ(verify_error(bundle, east.credentials("shop", "web")), "ok");
  EXPECT_EQ(verify_error(bundle, west.credentials("shop", "web")), "ok");  // unscoped
  // The east root signing an identity of another trust domain is refused.
  Credentials forged = testing::issue(east.issuer, west.workload("shop", "web"));
  EXPECT_EQ(verify_error(bundle, forged), "out_of_scope");
  Credentials sub_domain = testing::issue(east.issuer, spiffe("spiffe://x.east.example/ns/a/sa/b"));
  EXPECT_EQ(verify_error(bundle, sub_domain), "out_of_scope");
}

TEST(TrustBundleTest, CertificateWithoutSpiffeIdIsRefused) {
  testing::Cluster west("west.example");
  // The issuer's own certificate chains to the root but names no SPIFFE ID.
  Result<identity::SpiffeId> none = west.bundle.verify(west.issuer.cert(), {});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, "no_spiffe_id");
}

TEST(TrustBundleTest, PemRoundTripAndValidation) {
  testing::Cluster west("west.example");
  testing::Cluster east("east.example");
  TrustBundle bundle =
      must(TrustBundle::from_pem(west.root.cert().to_pem() + east.root.cert().to_pem()));
  EXPECT_EQ(bundle.size(), 2u);
  EXPECT_EQ(must(TrustBundle::from_pem(bundle.to_pem())).to_pem(), bundle.to_pem());
  EXPECT_EQ(TrustBundle::from_pem("").error().code, "empty_bundle");
  EXPECT_EQ(bundle.add_pem(west.credentials("a", "b").leaf.to_pem()).error().code, "not_a_ca");
  EXPECT_EQ(bundle.add_pem(west.root.cert().to_pem(), "West.Example").error().code,
            "invalid_scope");
  EXPECT_EQ(bundle.size(), 2u);
}

}  // namespace
}  // namespace strait::tls
