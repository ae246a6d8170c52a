// Tests for core/token: round trip, every rejection code, and the classic JWT attacks
// (alg "none", HS256 keyed with the public key, foreign keys, tampering).
#include "core/token/token.h"

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace strait::token {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::system_clock;

// ---- helpers (OpenSSL and libjwt directly: no other strait library) ----

std::string pem_of(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string p256_pem() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  EXPECT_TRUE(key);
  return pem_of(key.get());
}

std::string base64url(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (in.size() - i == 1) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (in.size() - i == 2) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

long epoch(system_clock::time_point t) {
  return static_cast<long>(std::chrono::floor<seconds>(t.time_since_epoch()).count());
}

// The payload segment of `token`, decoded by swapping in a payload we control is done by callers;
// this returns the "header.payload" text a signature covers.
std::string signing_input(std::string_view header_json, std::string_view payload_json) {
  return base64url(header_json) + "." + base64url(payload_json);
}

// A correctly ES256-signed token with an arbitrary payload (via libjwt), for claim-level tests
// that TokenSigner itself refuses to produce.
std::string es256_with_payload(const std::string& private_pem, const std::string& payload_json) {
  jwt_t* raw = nullptr;
  EXPECT_EQ(jwt_new(&raw), 0);
  std::unique_ptr<jwt_t, decltype(&jwt_free)> jwt(raw, jwt_free);
  EXPECT_EQ(jwt_add_grants_json(jwt.get(), payload_json.c_str()), 0);
  EXPECT_EQ(jwt_set_alg(jwt.get(), JWT_ALG_ES256,
                        reinterpret_cast<const unsigned char*>(private_pem.data()),
                        static_cast<int>(private_pem.size())),
            0);
  char* s = jwt_encode_str(jwt.get());
  EXPECT_NE(s, nullptr);
  std::string out = s ? s : "";
  std::free(s);
  return out;
}

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_pem_ = p256_pem();
    auto signer = TokenSigner::from_pem(key_pem_);
    ASSERT_TRUE(signer) << signer.error().to_string();
    signer_ = std::make_unique<TokenSigner>(std::move(signer).value());
    auto verifier = TokenVerifier::from_public_pem(signer_->public_key_pem());
    ASSERT_TRUE(verifier) << verifier.error().to_string();
    verifier_ = std::make_unique<TokenVerifier>(std::move(verifier).value());
  }

  Claims join_claims() const {
    Claims c;
    c.issuer = "strait-controller.east";
    c.audience = "strait-identity";
    c.ns = "payments";
    c.service_account = "ledger";
    c.issued_at = now_ - minutes(1);
    c.expires_at = now_ + hours(1);
    c.kind = "join";
    return c;
  }

  // A valid payload as JSON, with `drop` left out, for hand-built tokens.
  std::string payload_json(std::string_view drop = "") const {
    std::string out = "{";
    auto field = [&](std::string_view name, std::string value) {
      if (name == drop) return;
      if (out.size() > 1) out += ",";
      out += "\"" + std::string(name) + "\":" + value;
    };
    field("iss", "\"strait-controller.east\"");
    field("aud", "\"strait-identity\"");
    field("ns", "\"payments\"");
    field("sa", "\"ledger\"");
    field("kind", "\"join\"");
    field("jti", "\"00112233445566778899aabbccddeeff\"");
    field("iat", std::to_string(epoch(now_ - minutes(1))));
    field("exp", std::to_string(epoch(now_ + hours(1))));
    return out + "}";
  }

  std::string sign_ok(const Claims& c) const {
    auto token = signer_->sign(c);
    EXPECT_TRUE(token) << token.error().to_string();
    return token ? *token : "";
  }

  std::string verify_code(std::string_view token, std::string_view aud = "strait-identity",
                          std::string_view kind = "join") const {
    auto r = verifier_->verify(token, aud, kind, now_);
    return r ? "ok" : r.error().code;
  }

  system_clock::time_point now_ = std::chrono::floor<seconds>(system_clock::now());
  std::string key_pem_;
  std::unique_ptr<TokenSigner> signer_;
  std::unique_ptr<TokenVerifier> verifier_;
};

// ---- round trip ----

TEST_F(TokenTest, RoundTripCarriesEveryClaim) {
  Claims c = join_claims();
  c.id = "0123456789abcdef0123456789abcdef";
  c.extra = {{"host", "db-7.example.net"}, {"cluster", "east"}};
  std::string token = sign_ok(c);

  auto r = verifier_->verify(token, "strait-identity", "join", now_);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->issuer, c.issuer);
  EXPECT_EQ(r->audience, c.audience);
  EXPECT_EQ(r->ns, "payments");
  EXPECT_EQ(r->service_account, "ledger");
  EXPECT_EQ(r->kind, "join");
  EXPECT_EQ(r->id, c.id);
  EXPECT_EQ(r->issued_at, c.issued_at);
  EXPECT_EQ(r->expires_at, c.expires_at);
  EXPECT_EQ(r->extra, c.extra);
}

TEST_F(TokenTest, LinkKindRoundTrips) {
  Claims c = join_claims();
  c.kind = "link";
  c.audience = "strait-link.west";
  auto r = verifier_->verify(sign_ok(c), "strait-link.west", "link", now_);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->kind, "link");
}

TEST_F(TokenTest, SignFillsRandomTokenId) {
  Claims c = join_claims();
  auto a = verifier_->verify(sign_ok(c), "strait-identity", "join", now_);
  auto b = verifier_->verify(sign_ok(c), "strait-identity", "join", now_);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->id.size(), 32u);
  EXPECT_EQ(a->id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a->id, b->id);
}

TEST_F(TokenTest, TokenIsEs256Jwt) {
  std::string token = sign_ok(join_claims());
  std::string header = token.substr(0, token.find('.'));
  // {"alg":"ES256","typ":"JWT"} in either key order.
  EXPECT_TRUE(header == base64url(R"({"alg":"ES256","typ":"JWT"})") ||
              header == base64url(R"({"typ":"JWT","alg":"ES256"})"))
      << header;
}

TEST_F(TokenTest, GeneratedSigningKeyWorks) {
  auto pem = generate_signing_key_pem();
  ASSERT_TRUE(pem) << pem.error().to_string();
  EXPECT_NE(pem->find("BEGIN PRIVATE KEY"), std::string::npos);
  auto signer = TokenSigner::from_pem(*pem);
  ASSERT_TRUE(signer) << signer.error().to_string();
  auto verifier = TokenVerifier::from_public_pem(signer->public_key_pem());
  ASSERT_TRUE(verifier);
  auto token = signer->sign(join_claims());
  ASSERT_TRUE(token);
  EXPECT_TRUE(verifier->verify(*token, "strait-identity", "join", now_));
}

// ---- time ----

TEST_F(TokenTest, ExpiredTokenIsRejected) {
  Claims c = join_claims();
  c.issued_at = now_ - hours(2);
  c.expires_at = now_ - hours(1);
  EXPECT_EQ(verify_code(sign_ok(c)), "expired_token");
}

TEST_F(TokenTest, ExpiryLeewayIsAtMostFiveSeconds) {
  Claims c = join_claims();
  c.issued_at = now_ - hours(1);
  c.expires_at = now_ - seconds(5);
  EXPECT_EQ(verify_code(sign_ok(c)), "expired_token");
  c.expires_at = now_ - seconds(4);
  EXPECT_EQ(verify_code(sign_ok(c)), "ok");
}

TEST_F(TokenTest, TokenIssuedInTheFutureIsNotYetValid) {
  Claims c = join_claims();
  c.issued_at = now_ + minutes(5);
  c.expires_at = now_ + hours(1);
  EXPECT_EQ(verify_code(sign_ok(c)), "not_yet_valid");
  c.issued_at = now_ + seconds(30);  // ordinary clock skew
  EXPECT_EQ(verify_code(sign_ok(c)), "ok");
}

// ---- audience and kind ----

TEST_F(TokenTest, WrongAudienceIsRejected) {
  EXPECT_EQ(verify_code(sign_ok(join_claims()), "strait-link.west"), "wrong_audience");
}

TEST_F(TokenTest, WrongKindIsRejected) {
  EXPECT_EQ(verify_code(sign_ok(join_claims()), "strait-identity", "link"), "wrong_kind");
}

// ---- forgery ----

TEST_F(TokenTest, TokenFromAnotherKeyIsForged) {
  auto other = TokenSigner::from_pem(p256_pem());
  ASSERT_TRUE(other);
  auto token = other->sign(join_claims());
  ASSERT_TRUE(token);
  EXPECT_EQ(verify_code(*token), "forged_token");
}

TEST_F(TokenTest, TamperedPayloadIsForged) {
  std::string token = sign_ok(join_claims());
  size_t dot1 = token.find('.'), dot2 = token.find('.', dot1 + 1);
  std::string tampered =
      token.substr(0, dot1) + "." +
      base64url(payload_json().replace(payload_json().find("ledger"), 6, "admin1")) +
      token.substr(dot2);
  EXPECT_EQ(verify_code(tampered), "forged_token");
}

TEST_F(TokenTest, AlgNoneIsForged) {
  std::string token = signing_input(R"({"alg":"none","typ":"JWT"})", payload_json()) + ".";
  EXPECT_EQ(verify_code(token), "forged_token");
  // Also with a (meaningless) signature attached.
  EXPECT_EQ(verify_code(token + "AAAA"), "forged_token");
}

TEST_F(TokenTest, Hs256KeyedWithPublicKeyIsForged) {
  // The algorithm-confusion attack: the public key is known to everyone, so if the verifier let
  // the header pick HMAC, anyone could mint tokens.
  const std::string& secret = signer_->public_key_pem();
  std::string input = signing_input(R"({"alg":"HS256","typ":"JWT"})", payload_json());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  ASSERT_NE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                 reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len),
            nullptr);
  std::string token =
      input + "." + base64url(std::string(reinterpret_cast<const char*>(mac), mac_len));
  EXPECT_EQ(verify_code(token), "forged_token");
}

// ---- malformed ----

TEST_F(TokenTest, GarbageIsMalformed) {
  EXPECT_EQ(verify_code(""), "malformed_token");
  EXPECT_EQ(verify_code("not a jwt"), "malformed_token");
  EXPECT_EQ(verify_code("a.b"), "malformed_token");
  EXPECT_EQ(verify_code("a.b.c.d"), "malformed_token");
  EXPECT_EQ(verify_code("!!!.???.***"), "malformed_token");
  // Valid base64url, but not JSON.
  EXPECT_EQ(verify_code(base64url("hello") + "." + base64url("world") + ".AAAA"),
            "malformed_token");
  // JSON, but not objects.
  EXPECT_EQ(verify_code(base64url("[1]") + "." + base64url("2") + ".AAAA"), "malformed_token");
}

TEST_F(TokenTest, TruncatedTokenIsMalformed) {
  std::string token = sign_ok(join_claims());
  // Cut inside the payload: the signature segment disappears.
  EXPECT_EQ(verify_code(token.substr(0, token.find('.') + 10)), "malformed_token");
  // Cut the header short so it no longer decodes to JSON.
  EXPECT_EQ(verify_code(token.substr(5)), "malformed_token");
}

TEST_F(TokenTest, OversizedTokenIsMalformed) {
  Claims c = join_claims();
  std::string token = sign_ok(c);
  std::string big = std::string(9000, 'A') + token;
  auto r = verifier_->verify(big, "strait-identity", "join", now_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "malformed_token");
  EXPECT_NE(r.error().message.find("byte limit"), std::string::npos);
  // A correctly signed token just over the limit is refused by size, not signature.
  c.extra = {{"padding", std::string(kMaxTokenBytes, 'x')}};
  EXPECT_EQ(signer_->sign(c).error().code, "invalid_claim");  // signer refuses it too
  std::string oversized = es256_with_payload(
      key_pem_,
      payload_json().insert(1, R"("padding":")" + std::string(kMaxTokenBytes, 'x') + "\","));
  ASSERT_GT(oversized.size(), kMaxTokenBytes);
  r = verifier_->verify(oversized, "strait-identity", "join", now_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "malformed_token");
  EXPECT_NE(r.error().message.find("byte limit"), std::string::npos);
}

// ---- claims ----

TEST_F(TokenTest, HandBuiltTokenWithAllClaimsVerifies) {
  // Control for the missing-claim tests below: the same construction, nothing dropped.
  EXPECT_EQ(verify_code(es256_with_payload(key_pem_, payload_json())), "ok");
}

TEST_F(TokenTest, MissingServiceAccountIsMissingClaim) {
  auto r = verifier_->verify(es256_with_payload(key_pem_, payload_json("sa")), "strait-identity",
                             "join", now_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "missing_claim");
  EXPECT_NE(r.error().message.find("\"sa\""), std::string::npos) << r.error().message;
}

TEST_F(TokenTest, EachRequiredClaimIsNamedWhenMissing) {
  for (std::string_view claim : {"iss", "aud", "ns", "sa", "kind", "jti", "iat", "exp"}) {
    auto r = verifier_->verify(es256_with_payload(key_pem_, payload_json(claim)), "strait-identity",
                               "join", now_);
    ASSERT_FALSE(r) << claim;
    EXPECT_EQ(r.error().code, "missing_claim") << claim;
    EXPECT_NE(r.error().message.find("\"" + std::string(claim) + "\""), std::string::npos)
        << r.error().message;
  }
}

TEST_F(TokenTest, HostileNumericDatesDoNotOverflow) {
  std::string payload = payload_json("exp");
  payload.insert(1, R"("exp":9223372036854775807,)");
  EXPECT_EQ(verify_code(es256_with_payload(key_pem_, payload)), "malformed_token");
}

TEST_F(TokenTest, SignerRefusesIncompleteClaims) {
  Claims c = join_claims();
  c.service_account.clear();
  EXPECT_EQ(signer_->sign(c).error().code, "missing_claim");
  c = join_claims();
  c.kind = "admin";
  EXPECT_EQ(signer_->sign(c).error().code, "invalid_claim");
  c = join_claims();
  c.extra = {{"sa", "root"}};
  EXPECT_EQ(signer_->sign(c).error().code, "invalid_claim");
  c = join_claims();
  c.expires_at = c.issued_at;
  EXPECT_EQ(signer_->sign(c).error().code, "invalid_claim");
}

// ---- keys ----

TEST(TokenKeys, RsaKeyIsWrongKeyType) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> rsa(EVP_RSA_gen(2048), EVP_PKEY_free);
  ASSERT_TRUE(rsa);
  auto signer = TokenSigner::from_pem(pem_of(rsa.get()));
  ASSERT_FALSE(signer);
  EXPECT_EQ(signer.error().code, "wrong_key_type");
}

TEST(TokenKeys, OtherCurveIsWrongKeyType) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> p384(EVP_EC_gen("P-384"), EVP_PKEY_free);
  ASSERT_TRUE(p384);
  auto signer = TokenSigner::from_pem(pem_of(p384.get()));
  ASSERT_FALSE(signer);
  EXPECT_EQ(signer.error().code, "wrong_key_type");
}

TEST(TokenKeys, GarbageKeyIsInvalid) {
  EXPECT_EQ(TokenSigner::from_pem("not a key").error().code, "invalid_key");
  EXPECT_EQ(TokenVerifier::from_public_pem("").error().code, "invalid_key");
  // A private key is not accepted where a public one is expected.
  EXPECT_FALSE(TokenVerifier::from_public_pem(p256_pem()));
}

}  // namespace
}  // namespace strait::token
