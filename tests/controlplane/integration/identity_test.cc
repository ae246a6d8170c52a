// Identity service against the real controller: a certificate for a valid join token, every
// refusal with its status code and reason, and the metrics that count them.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "controlplane/server/state_files.h"
#include "core/tls/certificate.h"
#include "core/tls/csr.h"
#include "core/tls/key.h"
#include "core/tls/trust_bundle.h"
#include "core/token/token.h"
#include "strait/identity.grpc.pb.h"
#include "tests/controlplane/integration/controller_process.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;
namespace iv = identity::v1;

class IdentityIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    auto i = c_.install();
    ASSERT_TRUE(i) << i.error().to_string();
    auto s = c_.start();
    ASSERT_TRUE(s) << s.error().to_string();
  }

  identity::SpiffeId id(const std::string& ns, const std::string& sa) const {
    return identity::SpiffeId::workload("east.strait", ns, sa);
  }

  // A join token signed with `key_pem` (default: the controller's own signing key).
  std::string token(const std::string& ns, const std::string& sa,
                    std::chrono::system_clock::time_point issued,
                    std::chrono::system_clock::time_point expires, std::string key_pem = "") const {
    if (key_pem.empty()) key_pem = *read_file(c_.state_dir() / "ca" / "token-signing.key");
    auto signer = token::TokenSigner::from_pem(key_pem);
    EXPECT_TRUE(signer) << signer.error().to_string();
    token::Claims claims;
    claims.issuer = "test";
    claims.audience = "strait-identity";
    claims.ns = ns;
    claims.service_account = sa;
    claims.kind = std::string(token::kKindJoin);
    claims.issued_at = issued;
    claims.expires_at = expires;
    auto t = signer->sign(claims);
    EXPECT_TRUE(t) << t.error().to_string();
    return t ? *t : std::string();
  }
  std::string valid_token(const std::string& ns, const std::string& sa) const {
    auto now = std::chrono::system_clock::now();
    return token(ns, sa, now, now + 10min);
  }

  static std::string p256_csr(const identity::SpiffeId& id) {
    auto key = tls::PrivateKey::generate_p256();
    return *tls::make_csr(*key, id);
  }

  grpc::Status certify_raw(const std::string& identity, const std::string& token,
                           const std::string& csr, iv::CertifyResponse* resp = nullptr) const {
    auto stub =
        iv::Identity::NewStub(make_channel(c_.identity_address(), {c_.anchor_pem(), "", ""}));
    iv::CertifyRequest req;
    req.set_identity(identity);
    req.set_token(token);
    req.set_certificate_signing_request(csr);
    iv::CertifyResponse local;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    return stub->Certify(&ctx, req, resp ? resp : &local);
  }

  ControllerProcess c_{{.flags = {"--identity.certLifetime=1m"}}};
};

TEST_F(IdentityIntegration, IssuesAVerifiableShortLivedCertificate) {
  auto want = id("shop", "web");
  auto now = std::chrono::system_clock::now();
  iv::CertifyResponse resp;
  auto s = certify_raw(want.to_string(), valid_token("shop", "web"), p256_csr(want), &resp);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();

  auto leaf = tls::Certificate::from_pem(resp.leaf_certificate());
  ASSERT_TRUE(leaf) << leaf.error().to_string();
  ASSERT_TRUE(leaf->spiffe_id().has_value());
  EXPECT_EQ(leaf->spiffe_id()->to_string(), want.to_string());
  EXPECT_FALSE(leaf->is_ca());

  // The chain the controller returns leads to the installed anchor, and to nothing else.
  std::vector<tls::Certificate> intermediates;
  for (const auto& pem : resp.intermediate_certificates()) {
    auto c = tls::Certificate::from_pem(pem);
    ASSERT_TRUE(c) << c.error().to_string();
    intermediates.push_back(*c);
  }
  ASSERT_EQ(intermediates.size(), 1u);
  auto bundle = tls::TrustBundle::from_pem(c_.anchor_pem());
  ASSERT_TRUE(bundle) << bundle.error().to_string();
  auto verified = bundle->verify(*leaf, intermediates);
  ASSERT_TRUE(verified) << verified.error().to_string();
  EXPECT_EQ(verified->to_string(), want.to_string());
  auto other_root = tls::CertificateAuthority::create_root("someone else", 1h);
  auto other = tls::TrustBundle::from_pem(other_root->cert().to_pem());
  EXPECT_FALSE(other->verify(*leaf, intermediates)) << "a foreign anchor must not verify the leaf";

  // --identity.certLifetime=1m: the leaf expires about a minute from now.
  auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(leaf->not_after() - now);
  EXPECT_GE(lifetime.count(), 55);
  EXPECT_LE(lifetime.count(), 70);
  EXPECT_EQ(resp.valid_until_unix(),
            std::chrono::duration_cast<std::chrono::seconds>(leaf->not_after().time_since_epoch())
                .count());

  // The client helper goes the same way and yields usable credentials.
  auto token = c_.issue_token("shop", "web");
  ASSERT_TRUE(token) << token.error().to_string();
  auto w = certify(c_.identity_address(), c_.anchor_pem(), want, *token, 10s);
  ASSERT_TRUE(w) << w.error().to_string();
  EXPECT_EQ(w->identity, want.to_string());
}

struct Refusal {
  std::string name;
  grpc::StatusCode code;
  std::string reason;
  grpc::Status status;
};

TEST_F(IdentityIntegration, RefusesEachBadRequestWithItsCodeAndReasonAndCountsIt) {
  auto web = id("shop", "web");
  auto now = std::chrono::system_clock::now();
  std::vector<Refusal> cases;

  cases.push_back(
      {"expired token", grpc::StatusCode::UNAUTHENTICATED, "expired_token",
       certify_raw(web.to_string(), token("shop", "web", now - 2h, now - 1h), p256_csr(web))});

  auto other_key = token::generate_signing_key_pem();
  ASSERT_TRUE(other_key);
  cases.push_back({"forged token", grpc::StatusCode::UNAUTHENTICATED, "forged_token",
                   certify_raw(web.to_string(), token("shop", "web", now, now + 10min, *other_key),
                               p256_csr(web))});

  // The token is for shop/web, the request for shop/admin.
  auto admin = id("shop", "admin");
  cases.push_back({"identity mismatch", grpc::StatusCode::PERMISSION_DENIED, "identity_mismatch",
                   certify_raw(admin.to_string(), valid_token("shop", "web"), p256_csr(admin))});

  cases.push_back({"malformed CSR", grpc::StatusCode::INVALID_ARGUMENT, "malformed_csr",
                   certify_raw(web.to_string(), valid_token("shop", "web"),
                               "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n"
                               "-----END CERTIFICATE REQUEST-----\n")});

  tls::PkeyPtr rsa(EVP_RSA_gen(2048));
  ASSERT_TRUE(rsa);
  auto rsa_csr = tls::make_csr_for_key(rsa.get(), web);
  ASSERT_TRUE(rsa_csr) << rsa_csr.error().to_string();
  cases.push_back({"RSA key", grpc::StatusCode::INVALID_ARGUMENT, "wrong_key_type",
                   certify_raw(web.to_string(), valid_token("shop", "web"), *rsa_csr)});

  tls::PkeyPtr p384(EVP_EC_gen("P-384"));
  ASSERT_TRUE(p384);
  auto p384_csr = tls::make_csr_for_key(p384.get(), web);
  ASSERT_TRUE(p384_csr) << p384_csr.error().to_string();
  cases.push_back({"P-384 key", grpc::StatusCode::INVALID_ARGUMENT, "wrong_key_size",
                   certify_raw(web.to_string(), valid_token("shop", "web"), *p384_csr)});

  auto foreign = identity::SpiffeId::workload("west.strait", "shop", "web");
  cases.push_back(
      {"outside the trust domain", grpc::StatusCode::PERMISSION_DENIED, "outside_trust_domain",
       certify_raw(foreign.to_string(), valid_token("shop", "web"), p256_csr(foreign))});

  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.status.error_code(), c.code) << c.status.error_message();
    EXPECT_NE(c.status.error_message().find(c.reason), std::string::npos)
        << "the message should name the reason " << c.reason << ": " << c.status.error_message();
  }

  // One valid request, so the issued counter moves too.
  ASSERT_TRUE(certify_raw(web.to_string(), valid_token("shop", "web"), p256_csr(web)).ok());

  auto metrics = c_.get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  for (const auto& c : cases) {
    EXPECT_EQ(metric_value(metrics.body,
                           "identity_certificates_refused_total{reason=\"" + c.reason + "\"}"),
              1.0)
        << c.reason << "\n"
        << metrics.body;
  }
  EXPECT_EQ(metric_value(metrics.body, "identity_certificates_issued_total"), 1.0) << metrics.body;
}

}  // namespace
}  // namespace strait::controlplane::testing
