// TLS contexts for mesh connections: TLS 1.3 only, peers verified against a TrustBundle
// (chain, validity, root scope, SPIFFE ID) and, on the client side, against the identity the
// caller expects the server to have.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <vector>

#include "core/base/result.h"
#include "core/identity/spiffe_id.h"
#include "core/tls/certificate.h"
#include "core/tls/key.h"
#include "core/tls/trust_bundle.h"

namespace strait::tls {

// What a proxy presents: its workload certificate, the intermediates after it (not the
// root), and its key.
struct Credentials {
  Certificate leaf;
  std::vector<Certificate> chain;
  PrivateKey key;
};

enum class ClientAuth { kNone, kOptional, kRequired };

// A context is configured once and then only read, so one is shared by every connection
// (asio's stream constructor wants a non-const reference, hence no pointer-to-const). To
// rotate credentials or the bundle, build a new context; connections keep the one they
// started with. The context keeps its own copy of the bundle.
using ContextPtr = std::shared_ptr<boost::asio::ssl::context>;

// Errors: bad_credentials, tls_setup_failed.
Result<ContextPtr> make_server_context(const Credentials& credentials, const TrustBundle& bundle,
                                       ClientAuth mode);
// `credentials` may be null: the client then presents no certificate.
Result<ContextPtr> make_client_context(const Credentials* credentials, const TrustBundle& bundle);

// Before the handshake on `ssl`: fail it unless the peer's SPIFFE ID is exactly `expected`.
void expect_peer_identity(SSL* ssl, const identity::SpiffeId& expected);
// After the handshake: the verified peer's SPIFFE ID, if it presented a certificate.
std::optional<identity::SpiffeId> peer_identity(SSL* ssl);
// After a failed handshake: why the peer's certificate was refused (codes of
// TrustBundle::verify, or unexpected_identity), if that was the reason.
std::optional<Error> peer_verify_error(SSL* ssl);

}  // namespace strait::tls
