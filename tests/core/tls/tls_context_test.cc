// Real TLS 1.3 handshakes over loopback between contexts built by make_*_context: mutual
// authentication, expected server identity, foreign CAs, scopes and old protocol versions.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "core/tls/tls_context.h"
#include "tests/core/tls/pki_fixture.h"

namespace strait::tls {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Stream = asio::ssl::stream<tcp::socket>;
using testing::must;
using testing::spiffe;

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kDeadline{10};

// What one end of a connection saw.
struct Side {
  bool done = false;
  boost::system::error_code error;  // the handshake's, or the first exchange's after it
  std::optional<identity::SpiffeId> peer;
  std::optional<Error> verify_error;
  int version = 0;
  std::string cipher;
};

void record(Side& side, Stream& stream, boost::system::error_code ec) {
  SSL* ssl = stream.native_handle();
  side.verify_error = peer_verify_error(ssl);
  side.version = SSL_version(ssl);
  side.cipher = SSL_get_cipher_name(ssl);
  side.error = ec;
  side.done = true;
}

// Accepts one connection, handshakes, and sends one byte to confirm.
asio::awaitable<void> serve(tcp::acceptor& acceptor, asio::ssl::context& ctx, Side& side) {
  auto [ec, socket] = co_await acceptor.async_accept(kAwait);
  Stream stream(std::move(socket), ctx);
  if (!ec) std::tie(ec) = co_await stream.async_handshake(Stream::server, kAwait);
  if (!ec) {
    side.peer = peer_identity(stream.native_handle());
    std::tie(ec, std::ignore) = co_await asio::async_write(stream, asio::buffer("k", 1), kAwait);
  }
  record(side, stream, ec);
}

asio::awaitable<void> dial(tcp::endpoint server, asio::ssl::context& ctx,
                           std::optional<identity::SpiffeId> expected, Side& side) {
  Stream stream(co_await asio::this_coro::executor, ctx);
  if (expected) expect_peer_identity(stream.native_handle(), *expected);
  auto [ec] = co_await stream.next_layer().async_connect(server, kAwait);
  if (!ec) std::tie(ec) = co_await stream.async_handshake(Stream::client, kAwait);
  if (!ec) {
    side.peer = peer_identity(stream.native_handle());
    // In TLS 1.3 the client's handshake completes before the server has checked the client's
    // certificate: a refusal only shows on the first read.
    char byte = 0;
    std::tie(ec, std::ignore) = co_await asio::async_read(stream, asio::buffer(&byte, 1), kAwait);
  }
  record(side, stream, ec);
}

struct Outcome {
  Side server;
  Side client;
};

Outcome connect_once(asio::ssl::context& server_ctx, asio::ssl::context& client_ctx,
                     std::optional<identity::SpiffeId> expected_server = std::nullopt) {
  Outcome outcome;
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  asio::co_spawn(io, serve(acceptor, server_ctx, outcome.server), asio::detached);
  asio::co_spawn(io, dial(acceptor.local_endpoint(), client_ctx, expected_server, outcome.client),
                 asio::detached);
  io.run_for(kDeadline);
  EXPECT_TRUE(outcome.server.done && outcome.client.done) << "no outcome within the deadline";
  return outcome;
}

class TlsContextTest : public ::testing::Test {
 protected:
  testing::Cluster west{"west.example"};
  identity::SpiffeId api_id = west.workload("shop", "api");
  identity::SpiffeId web_id = west.workload("shop", "web");
  Credentials api = west.credentials("shop", "api");
  Credentials web = west.credentials("shop", "web");

  ContextPtr server(ClientAuth mode = ClientAuth::kRequired) {
    return must(make_server_context(api, west.bundle, mode));
  }
  ContextPtr client(const Credentials* creds, const TrustBundle& bundle) {
    return must(make_client_context(creds, bundle));
  }
};

TEST_F(TlsContextTest, MutualHandshakeExchangesIdentities) {
  ContextPtr server_ctx = server();
  ContextPtr client_ctx = client(&web, west.bundle);
  for (int connection = 0; connection < 2; ++connection) {  // contexts are shared by connections
    Outcome outcome = connect_once(*server_ctx, *client_ctx, api_id);
    ASSERT_FALSE(outcome.server.error) << outcome.server.error.message();
    ASSERT_FALSE(outcome.client.error) << outcome.client.error.message();
    EXPECT_EQ(outcome.server.peer, web_id);
    EXPECT_EQ(outcome.client.peer, api_id);
    EXPECT_EQ(outcome.client.version, TLS1_3_VERSION);
    EXPECT_NE(outcome.client.cipher.find("GCM"), std::string::npos) << outcome.client.cipher;
  }
}

TEST_F(TlsContextTest, ClientExpectingAnotherServerFails) {
  Outcome outcome =
      connect_once(*server(), *client(&web, west.bundle), west.workload("shop", "payments"));
  EXPECT_TRUE(outcome.client.error);
  EXPECT_TRUE(outcome.server.error);
  ASSERT_TRUE(outcome.client.verify_error);
  EXPECT_EQ(outcome.client.verify_error->code, "unexpected_identity");
}

TEST_F(TlsContextTest, ClientCertificateFromAnotherCaIsRefused) {
  testing::Cluster rogue("west.example");
  Credentials forged = rogue.credentials("shop", "web");
  Outcome outcome = connect_once(*server(), *client(&forged, west.bundle), api_id);
  EXPECT_TRUE(outcome.server.error);
  EXPECT_TRUE(outcome.client.error);
  ASSERT_TRUE(outcome.server.verify_error);
  EXPECT_EQ(outcome.server.verify_error->code, "untrusted_chain");
}

TEST_F(TlsContextTest, ClientWithoutCertificate) {
  ContextPtr anonymous = client(nullptr, west.bundle);
  Outcome required = connect_once(*server(ClientAuth::kRequired), *anonymous);
  EXPECT_TRUE(required.server.error);
  EXPECT_TRUE(required.client.error);
  Outcome optional = connect_once(*server(ClientAuth::kOptional), *anonymous);
  ASSERT_FALSE(optional.server.error) << optional.server.error.message();
  ASSERT_FALSE(optional.client.error) << optional.client.error.message();
  EXPECT_EQ(optional.server.peer, std::nullopt);
  EXPECT_EQ(optional.client.peer, api_id);
}

TEST_F(TlsContextTest, ServerOutsideItsRootsScopeIsRefused) {
  // The east root is trusted for east.example only; it signed a west identity.
  testing::Cluster east("east.example");
  TrustBundle bundle;
  ASSERT_TRUE(bundle.add_pem(east.root.cert().to_pem(), "east.example").ok());
  Credentials forged = testing::issue(east.issuer, api_id);
  ContextPtr server_ctx = must(make_server_context(forged, east.bundle, ClientAuth::kNone));
  Outcome outcome = connect_once(*server_ctx, *client(nullptr, bundle));
  EXPECT_TRUE(outcome.client.error);
  ASSERT_TRUE(outcome.client.verify_error);
  EXPECT_EQ(outcome.client.verify_error->code, "out_of_scope");
  // The same root, in scope, is accepted.
  ContextPtr in_scope =
      must(make_server_context(east.credentials("shop", "api"), east.bundle, ClientAuth::kNone));
  EXPECT_FALSE(connect_once(*in_scope, *client(nullptr, bundle)).client.error);
}

TEST_F(TlsContextTest, Tls12OnlyClientIsRefused) {
  asio::ssl::context old(asio::ssl::context::tls_client);
  ASSERT_EQ(SSL_CTX_set_max_proto_version(old.native_handle(), TLS1_2_VERSION), 1);
  old.set_verify_mode(asio::ssl::verify_none);
  Outcome outcome = connect_once(*server(ClientAuth::kNone), old);
  EXPECT_TRUE(outcome.server.error);
  EXPECT_TRUE(outcome.client.error);
}

TEST_F(TlsContextTest, ContextsAreTls13Only) {
  for (const ContextPtr& ctx : {server(), client(&web, west.bundle)}) {
    EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->native_handle()), TLS1_3_VERSION);
    EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx->native_handle()), TLS1_3_VERSION);
  }
}

TEST_F(TlsContextTest, MismatchedKeyIsRefused) {
  Credentials broken = api;
  broken.key = web.key;
  Result<ContextPtr> ctx = make_server_context(broken, west.bundle, ClientAuth::kNone);
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.error().code, "bad_credentials");
}

}  // namespace
}  // namespace strait::tls
