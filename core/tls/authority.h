// Certificate authorities: the trust anchor (root), per-cluster issuers (intermediates) and
// the signing of workload certificates from CSRs.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "core/identity/spiffe_id.h"
#include "core/tls/certificate.h"
#include "core/tls/csr.h"
#include "core/tls/key.h"

namespace strait::tls {

class CertificateAuthority {
 public:
  // A self-signed ECDSA P-256 root (CA:TRUE, keyCertSign).
  static Result<CertificateAuthority> create_root(std::string common_name,
                                                  std::chrono::seconds lifetime);
  // `cert_pem` is this CA, `chain_pem` the intermediates above it up to (not including) the
  // root, possibly empty; a copy of `cert_pem` leading the chain is tolerated.
  // Errors: malformed_certificate, malformed_key, wrong_key_*, not_a_ca, key_mismatch.
  static Result<CertificateAuthority> from_pem(std::string_view cert_pem, std::string_view key_pem,
                                               std::string_view chain_pem);

  // An issuer signed by this CA (CA:TRUE, pathlen 0), expiring no later than this CA.
  Result<CertificateAuthority> create_intermediate(std::string common_name,
                                                   std::chrono::seconds lifetime) const;
  // A workload certificate for the CSR's key: CA:FALSE, digitalSignature, serverAuth+clientAuth,
  // URI SAN `id`, random 128-bit serial, valid from 60 s ago (clock skew) until `lifetime` from
  // now or this CA's expiry, whichever is first. The CSR must be self-signed with a P-256 key
  // and, if it names identities, name exactly `id`.
  // Errors: bad_csr_signature, wrong_key_type, wrong_key_size, csr_identity_mismatch,
  // invalid_dns_san, signing_failed.
  Result<Certificate> issue_leaf(const CertificateRequest& csr, const identity::SpiffeId& id,
                                 std::chrono::seconds lifetime,
                                 std::vector<std::string> dns_sans = {}) const;

  const Certificate& cert() const { return cert_; }
  const PrivateKey& key() const { return key_; }
  // This CA's certificate then the intermediates above it, root excluded (empty for a root):
  // what a leaf issued here presents after itself.
  const std::vector<Certificate>& chain() const { return chain_; }

 private:
  CertificateAuthority(PrivateKey key, Certificate cert, std::vector<Certificate> chain)
      : key_(std::move(key)), cert_(std::move(cert)), chain_(std::move(chain)) {}

  PrivateKey key_;
  Certificate cert_;
  std::vector<Certificate> chain_;
};

}  // namespace strait::tls
