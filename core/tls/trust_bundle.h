// Trust bundles: the roots a proxy accepts peers from, each optionally scoped to one trust
// domain (a linked cluster's root vouches only for that cluster's identities).
#pragma once

#include <openssl/x509_vfy.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "core/identity/spiffe_id.h"
#include "core/tls/certificate.h"
#include "core/tls/openssl_util.h"

namespace strait::tls {

class TrustBundle {
 public:
  // Unscoped roots. Errors as add_pem.
  static Result<TrustBundle> from_pem(std::string_view pem);

  // Adds every certificate in `pem` as a root, trusted only for leaves whose SPIFFE trust
  // domain equals `scope` when it is set. Errors: malformed_certificate, empty_bundle,
  // not_a_ca, invalid_scope.
  Result<void> add_pem(std::string_view pem, std::optional<std::string> scope = std::nullopt);

  // The roots, concatenated (scopes are not part of PEM and are not written).
  std::string to_pem() const;
  std::size_t size() const { return roots_.size(); }

  // Verifies `leaf` up to a root (chain, validity at `now`), then the root's scope, then that
  // the leaf names a SPIFFE ID, which is returned.
  // Errors: untrusted_chain, expired, not_yet_valid, out_of_scope, no_spiffe_id.
  Result<identity::SpiffeId> verify(
      const Certificate& leaf, const std::vector<Certificate>& intermediates,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;
  // The same checks on a store context already set up over make_store() (as TLS does): runs
  // X509_verify_cert on it and leaves its error set on failure.
  Result<identity::SpiffeId> verify_store_context(X509_STORE_CTX* ctx) const;

  // A new store holding the roots, for an X509_STORE_CTX or an SSL_CTX (release() to hand it over).
  X509StorePtr make_store() const;

 private:
  struct Root {
    Certificate cert;
    std::optional<std::string> scope;
  };
  Result<void> check_scope(X509* anchor, const std::optional<identity::SpiffeId>& id) const;

  std::vector<Root> roots_;
};

}  // namespace strait::tls
