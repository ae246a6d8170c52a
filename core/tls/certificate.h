// X.509 certificates (workload SVIDs, issuers, trust anchors) as read-only values.
#pragma once

#include <openssl/x509.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "core/identity/spiffe_id.h"
#include "core/tls/openssl_util.h"

namespace strait::tls {

// An X.509 certificate. Copies share the same immutable X509 (reference counted).
class Certificate {
 public:
  // Adopts one reference to `cert` (not null).
  explicit Certificate(X509* adopted) : cert_(adopted) {}
  // Takes a new reference to `cert` (not null), which the caller keeps owning.
  static Certificate share(X509* cert) {
    X509_up_ref(cert);
    return Certificate(cert);
  }
  // Error code: malformed_certificate.
  static Result<Certificate> from_pem(std::string_view pem);
  // Every certificate in `pem`, in order (possibly none). Error code: malformed_certificate.
  static Result<std::vector<Certificate>> chain_from_pem(std::string_view pem);

  std::string to_pem() const;
  // The SPIFFE ID when the certificate has exactly one URI SAN and it is a valid SPIFFE ID
  // (X509-SVID rules).
  std::optional<identity::SpiffeId> spiffe_id() const;
  std::vector<std::string> uri_sans() const;
  std::vector<std::string> dns_sans() const;
  std::chrono::system_clock::time_point not_before() const;
  std::chrono::system_clock::time_point not_after() const;
  std::string subject() const;  // RFC 2253, e.g. "CN=strait root"
  std::string serial_hex() const;
  bool is_ca() const;  // basicConstraints CA:TRUE
  // True when `ca` signed this certificate: its issuer name and key identifier match `ca`, and
  // the signature verifies with `ca`'s public key. Says nothing about validity periods or the
  // rest of the chain (the TLS handshake checked those).
  bool issued_by(const Certificate& ca) const;

  X509* get() const { return cert_.get(); }

  friend bool operator==(const Certificate& a, const Certificate& b) {
    return X509_cmp(a.get(), b.get()) == 0;
  }

 private:
  SharedHandle<X509, X509_up_ref, X509_free> cert_;
};

// Concatenated PEM of `certs`.
std::string to_pem(const std::vector<Certificate>& certs);

}  // namespace strait::tls
