// Join and link tokens: ES256 JWTs signed with the controller's P-256 key. A join token lets a
// workload on a plain host prove its namespace and service account to the identity service; a link
// token lets one cluster obtain a link credential from another.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "core/base/result.h"

namespace strait::token {

// Tokens are refused before parsing beyond this size: a bound on work done for untrusted input.
inline constexpr std::size_t kMaxTokenBytes = 8 * 1024;
// Clock skew tolerated between the signer and the verifier.
inline constexpr std::chrono::seconds kExpiryLeeway{5};
inline constexpr std::chrono::seconds kMaxIssuedInFuture{60};

inline constexpr std::string_view kKindJoin = "join";
inline constexpr std::string_view kKindLink = "link";

struct Claims {
  std::string issuer;                                // "iss"
  std::string audience;                              // "aud"
  std::string ns;                                    // "ns"
  std::string service_account;                       // "sa"
  std::chrono::system_clock::time_point issued_at;   // "iat" (whole seconds on the wire)
  std::chrono::system_clock::time_point expires_at;  // "exp"
  std::string id;    // "jti": random 128-bit hex; sign() fills it in when empty
  std::string kind;  // "kind": "join" or "link"
  // Further string claims. Names of the claims above are reserved; non-string claims found when
  // verifying are not reported here.
  std::map<std::string, std::string> extra;
};

// A fresh random 128-bit token id, as 32 lowercase hex characters.
Result<std::string> new_token_id();

// A new EC P-256 private key as PKCS#8 PEM (what `straitctl install` stores for the controller).
Result<std::string> generate_signing_key_pem();

class TokenSigner {
 public:
  // Errors: invalid_key (not a PEM private key), wrong_key_type (not EC P-256).
  static Result<TokenSigner> from_pem(std::string_view ec_private_key_pem);

  // Errors: missing_claim / invalid_claim (the claims could not make a verifiable token),
  // sign_failed.
  Result<std::string> sign(const Claims& claims) const;

  // The matching public key (SubjectPublicKeyInfo PEM), for TokenVerifier::from_public_pem.
  const std::string& public_key_pem() const { return public_pem_; }

  TokenSigner(TokenSigner&&) noexcept = default;
  TokenSigner& operator=(TokenSigner&&) noexcept = default;
  TokenSigner(const TokenSigner&) = delete;
  TokenSigner& operator=(const TokenSigner&) = delete;
  ~TokenSigner();

 private:
  TokenSigner(std::string private_pem, std::string public_pem)
      : private_pem_(std::move(private_pem)), public_pem_(std::move(public_pem)) {}

  std::string private_pem_;
  std::string public_pem_;
};

class TokenVerifier {
 public:
  // Errors: invalid_key (not a PEM public key), wrong_key_type (not EC P-256).
  static Result<TokenVerifier> from_public_pem(std::string_view public_key_pem);

  // Errors (Error::code): malformed_token, forged_token, missing_claim (message names the claim),
  // expired_token, not_yet_valid, wrong_audience, wrong_kind.
  Result<Claims> verify(
      std::string_view token, std::string_view expected_audience, std::string_view expected_kind,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

 private:
  explicit TokenVerifier(std::string public_pem) : public_pem_(std::move(public_pem)) {}

  std::string public_pem_;  // normalised by from_public_pem; these exact bytes go to libjwt
};

}  // namespace strait::token
