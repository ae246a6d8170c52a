// Certifier: a join token plus a CSR gets a workload certificate; every refusal has its code.
#include <openssl/evp.h>

#include <gtest/gtest.h>

#include <memory>

#include "controlplane/identity/certifier.h"
#include "core/tls/csr.h"
#include "core/tls/trust_bundle.h"

namespace strait::controlplane {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

template <typename T>
T must(Result<T> r) {
  if (!r.ok()) throw std::runtime_error(r.error().to_string());
  return std::move(r).value();
}

constexpr const char* kTd = "west.example";
constexpr const char* kWebId = "spiffe://west.example/ns/shop/sa/web";

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

class CertifierTest : public ::testing::Test {
 protected:
  CertifierTest()
      : root_(must(tls::CertificateAuthority::create_root("west root", 24h * 365))),
        issuer_(must(root_.create_intermediate("west issuer", 24h * 30))),
        signer_(must(token::TokenSigner::from_pem(must(token::generate_signing_key_pem())))),
        ledger_(must(TokenLedger::open(""))),
        certifier_(issuer_, must(token::TokenVerifier::from_public_pem(signer_.public_key_pem())),
                   Certifier::Settings{kTd, 2h, "strait-identity"}, ledger_.get()) {}

  token::Claims claims(std::string ns = "shop", std::string sa = "web") const {
    token::Claims c;
    c.issuer = "strait-controller";
    c.audience = "strait-identity";
    c.ns = std::move(ns);
    c.service_account = std::move(sa);
    c.kind = std::string(token::kKindJoin);
    c.issued_at = Clock::now();
    c.expires_at = c.issued_at + 1h;
    return c;
  }
  std::string token(const token::Claims& c) const { return must(signer_.sign(c)); }
  std::string token() const { return token(claims()); }

  static std::string csr(std::string_view id = kWebId) {
    auto key = must(tls::PrivateKey::generate_p256());
    return must(tls::make_csr(key, must(identity::SpiffeId::parse(id))));
  }

  void expect_refused(const Result<Issued>& r, std::string_view code) const {
    ASSERT_FALSE(r.ok()) << "issued, expected " << code;
    EXPECT_EQ(r.error().code, code) << r.error().to_string();
  }

  tls::CertificateAuthority root_;
  tls::CertificateAuthority issuer_;
  token::TokenSigner signer_;
  std::unique_ptr<TokenLedger> ledger_;
  Certifier certifier_;
};

TEST_F(CertifierTest, IssuesALeafThatVerifiesAgainstTheRoot) {
  auto issued = certifier_.certify(kWebId, token(), csr());
  ASSERT_TRUE(issued.ok()) << issued.error().to_string();
  auto leaf = must(tls::Certificate::from_pem(issued->leaf_pem));
  ASSERT_TRUE(leaf.spiffe_id().has_value());
  EXPECT_EQ(leaf.spiffe_id()->to_string(), kWebId);
  EXPECT_FALSE(leaf.is_ca());
  ASSERT_EQ(issued->intermediates_pem.size(), 1u);
  EXPECT_EQ(issued->intermediates_pem[0], issuer_.cert().to_pem());
  EXPECT_EQ(issued->expiry, leaf.not_after());

  std::vector<tls::Certificate> chain;
  for (const auto& pem : issued->intermediates_pem)
    chain.push_back(must(tls::Certificate::from_pem(pem)));
  auto bundle = must(tls::TrustBundle::from_pem(root_.cert().to_pem()));
  auto verified = bundle.verify(leaf, chain);
  ASSERT_TRUE(verified.ok()) << verified.error().to_string();
  EXPECT_EQ(verified->to_string(), kWebId);

  // Not trusted by another root.
  auto other_root = must(tls::CertificateAuthority::create_root("other root", 24h));
  auto other = must(tls::TrustBundle::from_pem(other_root.cert().to_pem()));
  EXPECT_FALSE(other.verify(leaf, chain).ok());
}

TEST_F(CertifierTest, LeafLifetimeIsTheConfiguredOne) {
  const auto before = Clock::now();
  auto issued = certifier_.certify(kWebId, token(), csr());
  ASSERT_TRUE(issued.ok()) << issued.error().to_string();
  auto leaf = must(tls::Certificate::from_pem(issued->leaf_pem));
  EXPECT_GE(leaf.not_after(), before + 2h - 1min);
  EXPECT_LE(leaf.not_after(), Clock::now() + 2h + 1min);
  EXPECT_LE(leaf.not_before(), before);
}

TEST_F(CertifierTest, RefusesAnExpiredToken) {
  auto c = claims();
  c.issued_at = Clock::now() - 2h;
  c.expires_at = Clock::now() - 1h;
  expect_refused(certifier_.certify(kWebId, token(c), csr()), "expired_token");
}

TEST_F(CertifierTest, RefusesATokenSignedByAnotherKey) {
  auto other = must(token::TokenSigner::from_pem(must(token::generate_signing_key_pem())));
  expect_refused(certifier_.certify(kWebId, must(other.sign(claims())), csr()), "forged_token");
}

TEST_F(CertifierTest, RefusesGarbageTokens) {
  expect_refused(certifier_.certify(kWebId, "not-a-token", csr()), "malformed_token");
  // No token and no client certificate: nothing proves the identity.
  expect_refused(certifier_.certify(kWebId, "", csr()), "no_credentials");
}

TEST_F(CertifierTest, RenewsWithTheCurrentCertificateInsteadOfAToken) {
  auto me = must(identity::SpiffeId::parse(kWebId));
  auto other = must(identity::SpiffeId::parse("spiffe://west.example/ns/shop/sa/api"));
  EXPECT_TRUE(certifier_.certify(kWebId, "", csr(), me).ok());
  expect_refused(certifier_.certify(kWebId, "", csr(), other), "identity_mismatch");
}

TEST_F(CertifierTest, LinkTokensWorkOnceAndOnlyForLinkIdentities) {
  constexpr const char* kLinkId = "spiffe://west.example/ns/strait-multicluster/sa/link-east";
  auto c = claims("strait-multicluster", "link-east");
  c.kind = std::string(token::kKindLink);
  auto t = token(c);
  ASSERT_TRUE(certifier_.certify(kLinkId, t, csr(kLinkId)).ok());
  expect_refused(certifier_.certify(kLinkId, t, csr(kLinkId)), "reused_token");
  // A refused request (bad CSR) does not spend a fresh token.
  auto fresh = token(c);
  expect_refused(certifier_.certify(kLinkId, fresh, "garbage"), "malformed_csr");
  EXPECT_TRUE(certifier_.certify(kLinkId, fresh, csr(kLinkId)).ok());
}

TEST_F(CertifierTest, RefusesATokenForAnotherAudienceOrKind) {
  auto c = claims();
  c.audience = "strait-link";
  expect_refused(certifier_.certify(kWebId, token(c), csr()), "wrong_audience");
  c = claims();
  c.kind = std::string(token::kKindLink);
  // A link token is good only for link identities (namespace strait-multicluster).
  expect_refused(certifier_.certify(kWebId, token(c), csr()), "identity_mismatch");
}

TEST_F(CertifierTest, RefusesATokenForAnotherServiceAccountOrNamespace) {
  expect_refused(certifier_.certify(kWebId, token(claims("shop", "api")), csr()),
                 "identity_mismatch");
  expect_refused(certifier_.certify(kWebId, token(claims("other", "web")), csr()),
                 "identity_mismatch");
}

TEST_F(CertifierTest, RefusesACsrNamingAnotherIdentity) {
  expect_refused(certifier_.certify(kWebId, token(), csr("spiffe://west.example/ns/shop/sa/admin")),
                 "identity_mismatch");
}

TEST_F(CertifierTest, RefusesAMalformedCsr) {
  expect_refused(certifier_.certify(kWebId, token(), "not a csr"), "malformed_csr");
  expect_refused(certifier_.certify(kWebId, token(), ""), "malformed_csr");
  // A certificate is not a CSR.
  expect_refused(certifier_.certify(kWebId, token(), issuer_.cert().to_pem()), "malformed_csr");
  // A truncated CSR.
  std::string truncated = csr();
  truncated.resize(truncated.size() / 2);
  expect_refused(certifier_.certify(kWebId, token(), truncated), "malformed_csr");
}

// Cheap work first: a caller without a valid token (or renewal certificate) is refused for that,
// before the bytes of its CSR are parsed.
TEST_F(CertifierTest, ChecksTheTokenBeforeTheCsr) {
  expect_refused(certifier_.certify(kWebId, "not.a.token", "not a csr"), "malformed_token");
  expect_refused(certifier_.certify(kWebId, "", "not a csr"), "no_credentials");
  expect_refused(
      certifier_.certify(kWebId, "", "not a csr",
                         must(identity::SpiffeId::parse("spiffe://west.example/ns/shop/sa/other"))),
      "identity_mismatch");
}

TEST_F(CertifierTest, RefusesAnRsaKey) {
  Pkey rsa(EVP_RSA_gen(2048));
  ASSERT_NE(rsa, nullptr);
  auto pem = must(tls::make_csr_for_key(rsa.get(), must(identity::SpiffeId::parse(kWebId))));
  expect_refused(certifier_.certify(kWebId, token(), pem), "wrong_key_type");
}

TEST_F(CertifierTest, RefusesAP384Key) {
  Pkey p384(EVP_EC_gen("secp384r1"));
  ASSERT_NE(p384, nullptr);
  auto pem = must(tls::make_csr_for_key(p384.get(), must(identity::SpiffeId::parse(kWebId))));
  expect_refused(certifier_.certify(kWebId, token(), pem), "wrong_key_size");
}

TEST_F(CertifierTest, RefusesAnIdentityOutsideTheTrustDomain) {
  const char* id = "spiffe://east.example/ns/shop/sa/web";
  expect_refused(certifier_.certify(id, token(), csr(id)), "outside_trust_domain");
}

TEST_F(CertifierTest, RefusesInvalidIdentities) {
  for (std::string_view id :
       {"", "web", "https://west.example/ns/shop/sa/web", "spiffe://west.example/ns/shop/sa/",
        "spiffe://West.Example/ns/shop/sa/web", "spiffe://west.example/ns/shop/sa/web/",
        // Valid SPIFFE ids, but not workload identities.
        "spiffe://west.example", "spiffe://west.example/ns/shop",
        "spiffe://west.example/ns/shop/sa/web/extra", "spiffe://west.example/foo/shop/sa/web"}) {
    auto r = certifier_.certify(id, token(), csr());
    ASSERT_FALSE(r.ok()) << "issued for \"" << id << "\"";
    EXPECT_EQ(r.error().code, "invalid_identity") << id << ": " << r.error().to_string();
  }
}

TEST_F(CertifierTest, IssueWithoutTokenAddsDnsNames) {
  auto key = must(tls::PrivateKey::generate_p256());
  auto id = identity::SpiffeId::workload(kTd, "strait-system", "strait-controller");
  auto req = must(tls::CertificateRequest::from_pem(must(tls::make_csr(key, id))));
  auto issued = certifier_.issue(id, req, {"strait-controller"});
  ASSERT_TRUE(issued.ok()) << issued.error().to_string();
  auto leaf = must(tls::Certificate::from_pem(issued->leaf_pem));
  EXPECT_EQ(leaf.spiffe_id(), id);
  EXPECT_EQ(leaf.dns_sans(), std::vector<std::string>{"strait-controller"});
}

}  // namespace
}  // namespace strait::controlplane
