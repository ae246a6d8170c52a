// Certificate signing requests: a proxy builds one for its own key and identity; the
// identity service parses and checks what it receives before its CA signs it.
#pragma once

#include <openssl/x509.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "core/identity/spiffe_id.h"
#include "core/tls/key.h"
#include "core/tls/openssl_util.h"

namespace strait::tls {

// A PEM CSR for `key`, with `id` as its only URI SAN, signed with SHA-256.
Result<std::string> make_csr(const PrivateKey& key, const identity::SpiffeId& id);
// The same for any key type: lets tools and tests produce CSRs that a CA must refuse.
Result<std::string> make_csr_for_key(EVP_PKEY* key, const identity::SpiffeId& id);

class CertificateRequest {
 public:
  // Error code: malformed_csr.
  static Result<CertificateRequest> from_pem(std::string_view pem);

  // Proof of possession: the request is signed by the key it carries. Error: bad_csr_signature.
  Result<void> verify_signature() const;
  // Errors: wrong_key_type, wrong_key_size (see check_p256).
  Result<void> key_check() const;
  std::vector<std::string> uri_sans() const;

  EVP_PKEY* public_key() const;  // owned by the request
  X509_REQ* get() const { return req_.get(); }

 private:
  explicit CertificateRequest(X509ReqPtr req) : req_(std::move(req)) {}

  X509ReqPtr req_;
};

}  // namespace strait::tls
