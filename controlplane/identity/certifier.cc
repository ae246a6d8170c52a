// Certifier: token + identity + CSR checks, in the order that gives the clearest refusal.
#include "controlplane/identity/certifier.h"

#include "core/identity/spiffe_id.h"
#include "core/tls/csr.h"

namespace strait::controlplane {

Certifier::Certifier(tls::CertificateAuthority issuer, token::TokenVerifier verifier,
                     Settings settings)
    : issuer_(std::move(issuer)), verifier_(std::move(verifier)), settings_(std::move(settings)) {}

Result<Issued> Certifier::certify(std::string_view identity, std::string_view token,
                                  std::string_view csr_pem) const {
  auto id = identity::SpiffeId::parse(identity);
  if (!id) return make_error("invalid_identity", id.error().message);
  if (id->trust_domain() != settings_.trust_domain) {
    return make_error("outside_trust_domain", "identity " + id->to_string() +
                                                  " is outside the trust domain " +
                                                  settings_.trust_domain);
  }
  if (!id->ns() || !id->service_account()) {
    return make_error("invalid_identity",
                      "identity must be spiffe://<td>/ns/<namespace>/sa/<service-account>");
  }

  auto claims = verifier_.verify(token, settings_.audience, token::kKindJoin);
  if (!claims) return claims.error();
  if (claims->ns != *id->ns() || claims->service_account != *id->service_account()) {
    return make_error("identity_mismatch", "the token is for ns/" + claims->ns + "/sa/" +
                                               claims->service_account + ", not " +
                                               id->to_string());
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
  return issue(*id, *csr);
}

Result<Issued> Certifier::issue(const identity::SpiffeId& id, const tls::CertificateRequest& csr,
                                std::vector<std::string> dns_sans) const {
  auto leaf = issuer_.issue_leaf(csr, id, settings_.lifetime, std::move(dns_sans));
  if (!leaf) return leaf.error();
  Issued out;
  out.leaf_pem = leaf->to_pem();
  for (const auto& c : issuer_.chain()) out.intermediates_pem.push_back(c.to_pem());
  out.expiry = leaf->not_after();
  return out;
}

}  // namespace strait::controlplane
