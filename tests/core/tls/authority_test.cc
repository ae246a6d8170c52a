// Certificate authorities: what roots, issuers and workload certificates contain.
#include <openssl/x509v3.h>

#include <gtest/gtest.h>

#include "core/tls/authority.h"
#include "tests/core/tls/pki_fixture.h"

namespace strait::tls {
namespace {

using namespace std::chrono_literals;
using testing::must;
using testing::spiffe;
using Clock = std::chrono::system_clock;

CertificateRequest csr_for(const PrivateKey& key, const identity::SpiffeId& id) {
  return must(CertificateRequest::from_pem(must(make_csr(key, id))));
}

TEST(AuthorityTest, RootIsASelfSignedCa) {
  CertificateAuthority root = testing::make_root("anchor");
  EXPECT_TRUE(root.cert().is_ca());
  EXPECT_EQ(root.cert().subject(), "CN=anchor");
  EXPECT_TRUE(root.chain().empty());
  EXPECT_EQ(X509_check_issued(root.cert().get(), root.cert().get()), X509_V_OK);
  EXPECT_NE(X509_get_key_usage(root.cert().get()) & KU_KEY_CERT_SIGN, 0u);
  EXPECT_TRUE(check_p256(root.key().get()).ok());
}

TEST(AuthorityTest, IntermediateIsSignedByItsParentWithPathlenZero) {
  CertificateAuthority root = testing::make_root();
  CertificateAuthority issuer = must(root.create_intermediate("west issuer", 24h * 400));
  EXPECT_TRUE(issuer.cert().is_ca());
  EXPECT_EQ(X509_get_pathlen(issuer.cert().get()), 0);
  EXPECT_EQ(X509_check_issued(root.cert().get(), issuer.cert().get()), X509_V_OK);
  EXPECT_EQ(issuer.chain(), std::vector<Certificate>{issuer.cert()});
  EXPECT_LE(issuer.cert().not_after(), root.cert().not_after());  // clamped to the root's expiry
}

TEST(AuthorityTest, LeafHasTheWorkloadProfile) {
  testing::Cluster west("west.example");
  const identity::SpiffeId id = west.workload("shop", "web");
  const Clock::time_point before = Clock::now();
  Credentials creds = west.credentials("shop", "web");
  const Certificate& leaf = creds.leaf;
  EXPECT_EQ(leaf.spiffe_id(), id);
  EXPECT_FALSE(leaf.is_ca());
  EXPECT_EQ(X509_check_issued(west.issuer.cert().get(), leaf.get()), X509_V_OK);
  EXPECT_EQ(X509_get_key_usage(leaf.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(leaf.get()),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_NEAR(std::chrono::duration<double>(before - leaf.not_before()).count(), 60, 5);
  EXPECT_NEAR(std::chrono::duration<double>(leaf.not_after() - before).count(), 24 * 3600, 5);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(leaf.get()), creds.key.get()), 1);
}

TEST(AuthorityTest, SerialsAreRandom128Bit) {
  testing::Cluster west("west.example");
  const std::string a = west.credentials("shop", "web").leaf.serial_hex();
  const std::string b = west.credentials("shop", "web").leaf.serial_hex();
  EXPECT_NE(a, b);
  EXPECT_LE(a.size(), 32u);
  EXPECT_GE(a.size(), 28u);  // a few leading zero bytes are possible, not many
}

TEST(AuthorityTest, LeafExpiryIsClampedToTheIssuer) {
  CertificateAuthority root = testing::make_root();
  CertificateAuthority issuer = must(root.create_intermediate("short issuer", 1h));
  Credentials creds = testing::issue(issuer, spiffe("spiffe://td/x"), 24h);
  EXPECT_EQ(creds.leaf.not_after(), issuer.cert().not_after());
}

TEST(AuthorityTest, AddsDnsNames) {
  testing::Cluster west("west.example");
  PrivateKey key = must(PrivateKey::generate_p256());
  const identity::SpiffeId id = west.workload("shop", "web");
  Certificate leaf =
      must(west.issuer.issue_leaf(csr_for(key, id), id, 1h, {"web.shop.svc", "web"}));
  EXPECT_EQ(leaf.dns_sans(), (std::vector<std::string>{"web.shop.svc", "web"}));
  EXPECT_EQ(leaf.spiffe_id(), id);
  EXPECT_EQ(west.issuer.issue_leaf(csr_for(key, id), id, 1h, {"bad name,URI:x"}).error().code,
            "invalid_dns_san");
}

TEST(AuthorityTest, RefusesCsrForAnotherIdentity) {
  testing::Cluster west("west.example");
  PrivateKey key = must(PrivateKey::generate_p256());
  CertificateRequest csr = csr_for(key, west.workload("shop", "admin"));
  EXPECT_EQ(west.issuer.issue_leaf(csr, west.workload("shop", "web"), 1h).error().code,
            "csr_identity_mismatch");
}

TEST(AuthorityTest, RefusesNonP256Csr) {
  testing::Cluster west("west.example");
  PkeyPtr rsa(EVP_RSA_gen(2048));
  const identity::SpiffeId id = west.workload("shop", "web");
  CertificateRequest csr =
      must(CertificateRequest::from_pem(must(make_csr_for_key(rsa.get(), id))));
  EXPECT_EQ(west.issuer.issue_leaf(csr, id, 1h).error().code, "wrong_key_type");
}

TEST(AuthorityTest, PemRoundTrip) {
  CertificateAuthority root = testing::make_root();
  CertificateAuthority issuer = must(root.create_intermediate("issuer", 24h));
  CertificateAuthority loaded =
      must(CertificateAuthority::from_pem(issuer.cert().to_pem(), issuer.key().to_pem(), ""));
  EXPECT_EQ(loaded.cert(), issuer.cert());
  EXPECT_EQ(loaded.chain(), issuer.chain());
  CertificateAuthority loaded_root =
      must(CertificateAuthority::from_pem(root.cert().to_pem(), root.key().to_pem(), ""));
  EXPECT_TRUE(loaded_root.chain().empty());
  // The loaded issuer signs leaves that verify against the root.
  TrustBundle bundle = must(TrustBundle::from_pem(root.cert().to_pem()));
  Credentials creds = testing::issue(loaded, spiffe("spiffe://td/x"));
  EXPECT_TRUE(bundle.verify(creds.leaf, creds.chain).ok());
}

TEST(AuthorityTest, FromPemRefusesMismatchedKey) {
  CertificateAuthority root = testing::make_root();
  PrivateKey other = must(PrivateKey::generate_p256());
  EXPECT_EQ(CertificateAuthority::from_pem(root.cert().to_pem(), other.to_pem(), "").error().code,
            "key_mismatch");
}

TEST(CertificateTest, PemAndChainRoundTrip) {
  testing::Cluster west("west.example");
  Credentials creds = west.credentials("shop", "web");
  EXPECT_EQ(must(Certificate::from_pem(creds.leaf.to_pem())), creds.leaf);
  std::vector<Certificate> chain{creds.leaf, west.issuer.cert(), west.root.cert()};
  EXPECT_EQ(must(Certificate::chain_from_pem(to_pem(chain))), chain);
  EXPECT_TRUE(must(Certificate::chain_from_pem("")).empty());
  EXPECT_EQ(Certificate::from_pem("junk").error().code, "malformed_certificate");
  EXPECT_EQ(Certificate::chain_from_pem(
                to_pem(chain) + "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")
                .error()
                .code,
            "malformed_certificate");
}

// Two issuers under one shared anchor: each leaf is issued by its own issuer only, even with the
// same issuer name (a look-alike's signature does not verify).
TEST(CertificateTest, IssuedByTellsSiblingIssuersApart) {
  CertificateAuthority root = testing::make_root();
  CertificateAuthority east = must(root.create_intermediate("issuer", 24h));
  CertificateAuthority west = must(root.create_intermediate("issuer", 24h));
  auto id = testing::spiffe("spiffe://mesh.example/ns/shop/sa/web");
  Credentials from_east = testing::issue(east, id);
  EXPECT_TRUE(from_east.leaf.issued_by(east.cert()));
  EXPECT_FALSE(from_east.leaf.issued_by(west.cert()));
  EXPECT_FALSE(from_east.leaf.issued_by(root.cert()));
  EXPECT_TRUE(east.cert().issued_by(root.cert()));
}

}  // namespace
}  // namespace strait::tls
