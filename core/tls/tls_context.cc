// TLS 1.3 contexts whose peer verification is TrustBundle::verify plus the expected identity.
#include "core/tls/tls_context.h"

namespace strait::tls {
namespace {

namespace ssl = boost::asio::ssl;

// AEAD suites only; TLS 1.3 has nothing else, but the list is explicit so a library default
// never widens it.
constexpr const char* kCipherSuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// What the verify callback reads and writes for one connection.
struct PeerCheck {
  std::optional<identity::SpiffeId> expected;
  std::optional<Error> error;
};

void free_bundle(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<TrustBundle*>(ptr);
}
void free_peer_check(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<PeerCheck*>(ptr);
}

int bundle_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_bundle);
  return index;
}

int peer_check_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_peer_check);
  return index;
}

PeerCheck& peer_check(SSL* ssl) {
  if (auto* check = static_cast<PeerCheck*>(SSL_get_ex_data(ssl, peer_check_index())))
    return *check;
  auto check = std::make_unique<PeerCheck>();
  const int ok = SSL_set_ex_data(ssl, peer_check_index(), check.get());
  assert(ok == 1);
  (void)ok;
  return *check.release();
}

std::optional<Error> check_expected(SSL* ssl, const identity::SpiffeId& id) {
  const auto* check = static_cast<const PeerCheck*>(SSL_get_ex_data(ssl, peer_check_index()));
  if (check == nullptr || !check->expected || *check->expected == id) return std::nullopt;
  return make_error("unexpected_identity",
                    "peer is " + id.to_string() + ", expected " + check->expected->to_string());
}

// Replaces OpenSSL's chain verification for every handshake on contexts built here.
int verify_peer(X509_STORE_CTX* store_ctx, void* arg) {
  const auto& bundle = *static_cast<const TrustBundle*>(arg);
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  Result<identity::SpiffeId> id = bundle.verify_store_context(store_ctx);
  std::optional<Error> failure = id.ok() ? check_expected(ssl, *id) : id.error();
  if (!failure) return 1;
  // A non-OK error makes OpenSSL send the peer a certificate alert rather than a generic one.
  if (X509_STORE_CTX_get_error(store_ctx) == X509_V_OK) {
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
  }
  peer_check(ssl).error = std::move(failure);
  return 0;
}

bool restrict_protocol(SSL_CTX* ctx) {
  // No resumption: every connection is verified against the context's current bundle.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  // Idle connections give their read and write buffers back (about 34 KiB each): a proxy holds
  // many long-lived, mostly idle connections (HTTP/2 pools, keep-alive clients).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 &&
         SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
         SSL_CTX_set_ciphersuites(ctx, kCipherSuites) == 1 && SSL_CTX_set_num_tickets(ctx, 0) == 1;
}

bool set_verification(SSL_CTX* ctx, const TrustBundle& bundle, int verify_mode) {
  auto owned = std::make_unique<TrustBundle>(bundle);
  if (SSL_CTX_set_ex_data(ctx, bundle_index(), owned.get()) != 1) return false;
  SSL_CTX_set_cert_verify_callback(ctx, verify_peer, owned.release());
  SSL_CTX_set_cert_store(ctx, bundle.make_store().release());
  SSL_CTX_set_verify(ctx, verify_mode, nullptr);
  return true;
}

bool use_credentials(SSL_CTX* ctx, const Credentials& credentials) {
  if (SSL_CTX_use_certificate(ctx, credentials.leaf.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, credentials.key.get()) != 1) {
    return false;
  }
  for (const Certificate& cert : credentials.chain) {
    if (SSL_CTX_add1_chain_cert(ctx, cert.get()) != 1) return false;
  }
  return SSL_CTX_check_private_key(ctx) == 1;
}

Result<ContextPtr> make_context(ssl::context::method method, const Credentials* credentials,
                                const TrustBundle& bundle, int verify_mode) {
  auto context = std::make_shared<ssl::context>(method);
  SSL_CTX* native = context->native_handle();
  if (!restrict_protocol(native) || !set_verification(native, bundle, verify_mode)) {
    return openssl_error("tls_setup_failed", "configuring a TLS 1.3 context");
  }
  if (credentials != nullptr && !use_credentials(native, *credentials)) {
    return openssl_error("bad_credentials", "loading the workload certificate, chain and key");
  }
  return context;
}

int server_verify_mode(ClientAuth mode) {
  switch (mode) {
    case ClientAuth::kNone:
      return SSL_VERIFY_NONE;
    case ClientAuth::kOptional:
      return SSL_VERIFY_PEER;
    case ClientAuth::kRequired:
      return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
}

}  // namespace

Result<ContextPtr> make_server_context(const Credentials& credentials, const TrustBundle& bundle,
                                       ClientAuth mode) {
  return make_context(ssl::context::tls_server, &credentials, bundle, server_verify_mode(mode));
}

Result<ContextPtr> make_client_context(const Credentials* credentials, const TrustBundle& bundle) {
  return make_context(ssl::context::tls_client, credentials, bundle, SSL_VERIFY_PEER);
}

void expect_peer_identity(SSL* ssl, const identity::SpiffeId& expected) {
  peer_check(ssl).expected = expected;
}

std::optional<identity::SpiffeId> peer_identity(SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (peer == nullptr) return std::nullopt;
  return Certificate(peer).spiffe_id();
}

std::optional<Error> peer_verify_error(SSL* ssl) {
  const auto* check = static_cast<const PeerCheck*>(SSL_get_ex_data(ssl, peer_check_index()));
  return check != nullptr ? check->error : std::nullopt;
}

}  // namespace strait::tls
