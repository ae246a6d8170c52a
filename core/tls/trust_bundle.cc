// Chain verification against a trust bundle, with per-root trust-domain scopes.
#include "core/tls/trust_bundle.h"

#include <algorithm>

namespace strait::tls {
namespace {

Error chain_error(int x509_error) {
  const std::string reason = X509_verify_cert_error_string(x509_error);
  switch (x509_error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return make_error("expired", reason);
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return make_error("not_yet_valid", reason);
    default:
      return make_error("untrusted_chain", reason);
  }
}

}  // namespace

Result<TrustBundle> TrustBundle::from_pem(std::string_view pem) {
  TrustBundle bundle;
  if (Result<void> added = bundle.add_pem(pem); !added.ok()) return added.error();
  return bundle;
}

Result<void> TrustBundle::add_pem(std::string_view pem, std::optional<std::string> scope) {
  if (scope && !identity::SpiffeId::is_valid_trust_domain(*scope)) {
    return make_error("invalid_scope", "'" + *scope + "' is not a trust domain name");
  }
  Result<std::vector<Certificate>> certs = Certificate::chain_from_pem(pem);
  if (!certs.ok()) return certs.error();
  if (certs->empty()) return make_error("empty_bundle", "no certificate in the trust bundle PEM");
  for (const Certificate& cert : *certs) {
    if (!cert.is_ca()) return make_error("not_a_ca", cert.subject() + " is not a CA certificate");
  }
  for (Certificate& cert : *certs) roots_.push_back(Root{std::move(cert), scope});
  return {};
}

std::string TrustBundle::to_pem() const {
  std::string out;
  for (const Root& root : roots_) out += root.cert.to_pem();
  return out;
}

X509StorePtr TrustBundle::make_store() const {
  X509StorePtr store(X509_STORE_new());
  for (const Root& root : roots_) X509_STORE_add_cert(store.get(), root.cert.get());
  return store;
}

Result<identity::SpiffeId> TrustBundle::verify(const Certificate& leaf,
                                               const std::vector<Certificate>& intermediates,
                                               std::chrono::system_clock::time_point now) const {
  const X509StorePtr store = make_store();
  const X509StackPtr untrusted(sk_X509_new_null());
  for (const Certificate& cert : intermediates)
    X509_add_cert(untrusted.get(), cert.get(), X509_ADD_FLAG_UP_REF);
  const X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), untrusted.get()) != 1) {
    return openssl_error("untrusted_chain", "setting up chain verification");
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_ANY);
  X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(now));
  return verify_store_context(ctx.get());
}

Result<identity::SpiffeId> TrustBundle::verify_store_context(X509_STORE_CTX* ctx) const {
  if (X509_verify_cert(ctx) != 1) return chain_error(X509_STORE_CTX_get_error(ctx));
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
  const Certificate leaf = Certificate::share(X509_STORE_CTX_get0_cert(ctx));
  const std::optional<identity::SpiffeId> id = leaf.spiffe_id();
  Result<void> in_scope = check_scope(sk_X509_value(chain, sk_X509_num(chain) - 1), id);
  if (!in_scope.ok()) {
    X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REJECTED);
    return in_scope.error();
  }
  if (!id) {
    X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REJECTED);
    return make_error("no_spiffe_id", "the certificate has no single SPIFFE ID URI SAN");
  }
  return *id;
}

// The chain ends at `anchor`: fine if any copy of it in the bundle is unscoped or scoped to
// the leaf's trust domain.
Result<void> TrustBundle::check_scope(X509* anchor,
                                      const std::optional<identity::SpiffeId>& id) const {
  const bool allowed = std::any_of(roots_.begin(), roots_.end(), [&](const Root& root) {
    return X509_cmp(root.cert.get(), anchor) == 0 &&
           (!root.scope || (id && id->trust_domain() == *root.scope));
  });
  if (allowed) return {};
  return make_error("out_of_scope", "the root that verified the chain is not trusted for " +
                                        (id ? std::string(id->trust_domain())
                                            : std::string("certificates without a SPIFFE ID")));
}

}  // namespace strait::tls
