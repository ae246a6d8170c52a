// Certifier: the identity service's decision, apart from gRPC. A token proves who the caller
// is; the CSR carries the key the certificate binds; the issuer signs a short-lived leaf.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "core/tls/authority.h"
#include "controlplane/identity/token_ledger.h"
#include "core/identity/spiffe_id.h"
#include "core/token/token.h"

namespace strait::controlplane {

struct Issued {
  std::string leaf_pem;
  std::vector<std::string> intermediates_pem;  // issuer first
  std::chrono::system_clock::time_point expiry;
};

class Certifier {
 public:
  struct Settings {
    std::string trust_domain;
    std::chrono::seconds lifetime{24 * 3600};
    std::string audience = "strait-identity";
  };
  // Link identities live in this namespace.
  static constexpr const char* kLinkNamespace = "strait-multicluster";

  // `ledger` (may be null: link tokens are then refused) remembers spent link tokens.
  Certifier(tls::CertificateAuthority issuer, token::TokenVerifier verifier, Settings settings,
            TokenLedger* ledger = nullptr);

  // With a token: a join token (workloads) or a single-use link token (links, identities
  // spiffe://<td>/ns/strait-multicluster/sa/link-<cluster>). Without one: a renewal, where the
  // caller's verified certificate (`peer`) must already hold the identity it asks for.
  // Error codes (each is a metric label): invalid_identity, outside_trust_domain,
  // malformed_token, forged_token, expired_token, not_yet_valid, wrong_audience, wrong_kind,
  // missing_claim, identity_mismatch, reused_token, no_credentials, malformed_csr,
  // wrong_key_type, wrong_key_size.
  Result<Issued> certify(std::string_view identity, std::string_view token,
                         std::string_view csr_pem,
                         const std::optional<identity::SpiffeId>& peer = std::nullopt) const;

  // Signs a leaf without a token, for the controller's own serving certificate and the
  // admin client credentials that straitctl derives from the state directory.
  // `lifetime` 0: the configured workload lifetime.
  Result<Issued> issue(const identity::SpiffeId& id, const tls::CertificateRequest& csr,
                       std::vector<std::string> dns_sans = {},
                       std::chrono::seconds lifetime = std::chrono::seconds(0)) const;

  const tls::CertificateAuthority& issuer() const { return issuer_; }
  const Settings& settings() const { return settings_; }

 private:
  // A verified link token, to be spent once the rest of the request has been checked.
  struct LinkSpend {
    std::string token_id;
    std::chrono::system_clock::time_point expires_at;
  };
  // The token's signature and claims against the identity (nothing spent yet); a link token
  // gives what to spend.
  Result<std::optional<LinkSpend>> check_token(const identity::SpiffeId& id,
                                               std::string_view token) const;

  tls::CertificateAuthority issuer_;
  token::TokenVerifier verifier_;
  Settings settings_;
  TokenLedger* ledger_;
};

}  // namespace strait::controlplane
