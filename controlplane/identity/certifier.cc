// Certifier: token + identity + CSR checks, in the order that gives the clearest refusal.
#include "controlplane/identity/certifier.h"

#include "core/identity/spiffe_id.h"
#include "core/tls/csr.h"

namespace strait::controlplane {

Certifier::Certifier(tls::CertificateAuthority issuer, token::TokenVerifier verifier,
                     Settings settings, TokenLedger* ledger)
    : issuer_(std::move(issuer)),
      verifier_(std::move(verifier)),
      settings_(std::move(settings)),
      ledger_(ledger) {}

Result<std::optional<Certifier::LinkSpend>> Certifier::check_token(const identity::SpiffeId& id,
                                                                   std::string_view token) const {
  auto claims = verifier_.verify(token, settings_.audience, token::kKindJoin);
  bool link = false;
  if (!claims && claims.error().code == "wrong_kind") {
    claims = verifier_.verify(token, settings_.audience, token::kKindLink);
    link = true;
  }
  if (!claims) return claims.error();
  if (claims->ns != *id.ns() || claims->service_account != *id.service_account()) {
    return make_error("identity_mismatch", "the token is for ns/" + claims->ns + "/sa/" +
                                               claims->service_account + ", not " + id.to_string());
  }
  if (!link) return std::optional<LinkSpend>();
  if (claims->ns != kLinkNamespace || ledger_ == nullptr) {
    return make_error("identity_mismatch", "link tokens are only for identities in namespace " +
                                               std::string(kLinkNamespace));
  }
  return std::optional<LinkSpend>(LinkSpend{claims->id, claims->expires_at});
}

Result<Issued> Certifier::certify(std::string_view identity, std::string_view token,
                                  std::string_view csr_pem,
                                  const std::optional<identity::SpiffeId>& peer) const {
  auto id = identity::SpiffeId::parse(identity);
  if (!id) return make_error("invalid_identity", id.error().message);
  if (id->trust_domain() != settings_.trust_domain) {
    return make_error(
        "outside_trust_domain",
        "identity " + id->to_string() + " is outside the trust domain " + settings_.trust_domain);
  }
  if (!id->ns() || !id->service_account()) {
    return make_error("invalid_identity",
                      "identity must be spiffe://<td>/ns/<namespace>/sa/<service-account>");
  }

  // Cheap work first: who is asking (the token's signature and claims, or the certificate
  // presented for a renewal) before the CSR's bytes are parsed at all.
  std::optional<LinkSpend> spend;
  if (token.empty()) {
    // Renewal: the caller proves the identity with the certificate it holds now.
    if (!peer) {
      return make_error("no_credentials",
                        "give a token, or renew over TLS with the current certificate");
    }
    if (*peer != *id) {
      return make_error("identity_mismatch", "the client certificate is for " + peer->to_string() +
                                                 ", not " + id->to_string());
    }
  } else {
    auto checked = check_token(*id, token);
    if (!checked) return checked.error();
    spend = std::move(*checked);
  }

  auto csr = tls::CertificateRequest::from_pem(csr_pem);
  if (!csr) return make_error("malformed_csr", csr.error().message);
  if (auto k = csr->key_check(); !k) return k.error();
  if (auto s = csr->verify_signature(); !s) return make_error("malformed_csr", s.error().message);
  for (const auto& uri : csr->uri_sans()) {
    if (uri != id->to_string()) {
      return make_error("identity_mismatch", "the CSR names " + uri + ", not " + id->to_string());
    }
  }
  // A single-use link token is spent only once the whole request is known to be good: a
  // malformed CSR must not burn it.
  if (spend) {
    if (auto r = ledger_->spend(spend->token_id, spend->expires_at); !r) return r.error();
  }
  return issue(*id, *csr);
}

Result<Issued> Certifier::issue(const identity::SpiffeId& id, const tls::CertificateRequest& csr,
                                std::vector<std::string> dns_sans,
                                std::chrono::seconds lifetime) const {
  auto leaf = issuer_.issue_leaf(csr, id, lifetime.count() > 0 ? lifetime : settings_.lifetime,
                                 std::move(dns_sans));
  if (!leaf) return leaf.error();
  Issued out;
  out.leaf_pem = leaf->to_pem();
  for (const auto& c : issuer_.chain()) out.intermediates_pem.push_back(c.to_pem());
  out.expiry = leaf->not_after();
  return out;
}

}  // namespace strait::controlplane
