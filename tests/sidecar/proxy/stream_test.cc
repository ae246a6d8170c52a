// Loopback tests of the data-plane streams: TlsStream (handshake, identities, half-close,
// truncation, full-duplex on one stream, identity mismatch) and relay() over PlainStream /
// AnyStream pairs (byte counts, half-close propagation, idle timeout, reset).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics/metrics.h"
#include "core/tls/tls_context.h"
#include "core/tls/tls_stream.h"
#include "sidecar/proxy/relay.h"
#include "sidecar/proxy/stream.h"
#include "tests/core/tls/pki_fixture.h"
#include "tests/support/coro_test.h"

namespace strait::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using strait::testing::pattern;
using strait::testing::run_all;
using strait::testing::socket_pair;
using tls::TlsStream;
using tls::testing::must;
using namespace std::chrono_literals;

// A checksum to compare pattern() data with what arrived.
struct Checksum {
  std::uint64_t h = 1469598103934665603ull;
  std::uint64_t n = 0;
  void add(const char* p, std::size_t len) {
    for (std::size_t i = 0; i < len; ++i)
      h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
    n += len;
  }
  friend bool operator==(const Checksum&, const Checksum&) = default;
};
Checksum checksum(const std::string& s) {
  Checksum c;
  c.add(s.data(), s.size());
  return c;
}

// Reads until an error (eof included); returns it and what was read.
template <typename Stream>
asio::awaitable<std::pair<error_code, Checksum>> read_to_end(Stream& s,
                                                             std::string* keep = nullptr) {
  Checksum c;
  std::vector<char> buf(64 * 1024);
  while (true) {
    auto [ec, n] = co_await s.read_some(asio::buffer(buf));
    c.add(buf.data(), n);
    if (keep) keep->append(buf.data(), n);
    if (ec) co_return std::pair{ec, c};
  }
}

// Reads exactly n bytes (or fails with the error that stopped it).
template <typename Stream>
asio::awaitable<std::pair<error_code, std::string>> read_exactly(Stream& s, std::size_t n) {
  std::string out;
  std::vector<char> buf(64 * 1024);
  while (out.size() < n) {
    auto [ec, got] =
        co_await s.read_some(asio::buffer(buf.data(), std::min(buf.size(), n - out.size())));
    out.append(buf.data(), got);
    if (ec) co_return std::pair{ec, out};
  }
  co_return std::pair{error_code{}, out};
}

// ---------------------------------------------------------------------------------------------
// TlsStream

struct Pki {
  tls::testing::Cluster cluster{"td"};
  identity::SpiffeId server_id = cluster.workload("shop", "web");
  identity::SpiffeId client_id = cluster.workload("shop", "cart");
  tls::ContextPtr server_ctx = must(tls::make_server_context(
      cluster.credentials("shop", "web"), cluster.bundle, tls::ClientAuth::kRequired));
  tls::Credentials client_creds = cluster.credentials("shop", "cart");
  tls::ContextPtr client_ctx = must(tls::make_client_context(&client_creds, cluster.bundle));
};

class TlsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto [c, s] = socket_pair(io);
    client = std::make_unique<TlsStream>(std::move(c), pki.client_ctx, TlsStream::Role::kClient);
    server = std::make_unique<TlsStream>(std::move(s), pki.server_ctx, TlsStream::Role::kServer);
  }

  static Pki& shared_pki() {
    static Pki* p = new Pki;  // key generation is the slow part: once per binary
    return *p;
  }

  asio::io_context io;
  Pki& pki = shared_pki();
  std::unique_ptr<TlsStream> client;
  std::unique_ptr<TlsStream> server;
};

TEST_F(TlsStreamTest, HandshakeAndBothDirections) {
  bool server_ok = false, client_ok = false;
  run_all(io,
          {
              [&]() -> asio::awaitable<void> {
                auto ec = co_await server->handshake();
                EXPECT_FALSE(ec) << ec.message();
                if (ec) co_return;
                auto peer = tls::peer_identity(server->native_handle());
                EXPECT_EQ(peer, pki.client_id);
                auto [rec, got] = co_await read_exactly(*server, 4);
                EXPECT_FALSE(rec) << rec.message();
                EXPECT_EQ(got, "ping");
                EXPECT_FALSE(co_await server->write_all(asio::buffer(std::string_view("pong"))));
                EXPECT_FALSE(co_await server->shutdown_write());
                auto [eec, rest] = co_await read_to_end(*server);
                EXPECT_EQ(eec, asio::error::eof) << eec.message();
                EXPECT_EQ(rest.n, 0u);
                server_ok = true;
              },
              [&]() -> asio::awaitable<void> {
                auto ec = co_await client->handshake();
                EXPECT_FALSE(ec) << ec.message();
                if (ec) co_return;
                EXPECT_EQ(tls::peer_identity(client->native_handle()), pki.server_id);
                EXPECT_FALSE(co_await client->write_all(asio::buffer(std::string_view("ping"))));
                std::string got;
                auto [rec, sum] = co_await read_to_end(*client, &got);
                EXPECT_EQ(rec, asio::error::eof) << rec.message();
                EXPECT_EQ(got, "pong");
                EXPECT_FALSE(co_await client->shutdown_write());
                client_ok = true;
              },
          });
  EXPECT_TRUE(server_ok);
  EXPECT_TRUE(client_ok);
}

TEST_F(TlsStreamTest, HalfCloseThenReply) {
  const std::string request = pattern(1 << 20, 1);
  const std::string reply = pattern(200'000, 2);
  bool server_ok = false, client_ok = false;
  run_all(io, {
                  [&]() -> asio::awaitable<void> {
                    auto ec = co_await server->handshake();
                    EXPECT_FALSE(ec) << ec.message();
                    if (ec) co_return;
                    auto [rec, sum] = co_await read_to_end(*server);
                    EXPECT_EQ(rec, asio::error::eof) << rec.message();  // not stream_truncated
                    EXPECT_NE(rec, asio::ssl::error::stream_truncated);
                    EXPECT_TRUE(sum == checksum(request)) << "got " << sum.n << " bytes";
                    // Only now, after the client's half-close, answer.
                    auto wec = co_await server->write_all(asio::buffer(reply));
                    EXPECT_FALSE(wec) << wec.message();
                    EXPECT_FALSE(co_await server->shutdown_write());
                    server->close();
                    server_ok = true;
                  },
                  [&]() -> asio::awaitable<void> {
                    auto ec = co_await client->handshake();
                    EXPECT_FALSE(ec) << ec.message();
                    if (ec) co_return;
                    auto wec = co_await client->write_all(asio::buffer(request));
                    EXPECT_FALSE(wec) << wec.message();
                    auto sec = co_await client->shutdown_write();
                    EXPECT_FALSE(sec) << sec.message();
                    auto [rec, sum] = co_await read_to_end(*client);
                    EXPECT_EQ(rec, asio::error::eof) << rec.message();
                    EXPECT_TRUE(sum == checksum(reply)) << "got " << sum.n << " bytes";
                    client_ok = true;
                  },
              });
  EXPECT_TRUE(server_ok);
  EXPECT_TRUE(client_ok);
}

TEST_F(TlsStreamTest, TcpCloseWithoutCloseNotifyIsTruncation) {
  bool server_ok = false;
  run_all(io,
          {
              [&]() -> asio::awaitable<void> {
                auto ec = co_await server->handshake();
                EXPECT_FALSE(ec) << ec.message();
                if (ec) co_return;
                std::string got;
                auto [rec, sum] = co_await read_to_end(*server, &got);
                EXPECT_EQ(got, "partial");
                EXPECT_EQ(rec, asio::ssl::error::stream_truncated) << rec.message();
                server_ok = true;
              },
              [&]() -> asio::awaitable<void> {
                auto ec = co_await client->handshake();
                EXPECT_FALSE(ec) << ec.message();
                if (ec) co_return;
                EXPECT_FALSE(co_await client->write_all(asio::buffer(std::string_view("partial"))));
                error_code ignored;
                client->socket().shutdown(tcp::socket::shutdown_send,
                                          ignored);  // FIN, no close_notify
              },
          });
  EXPECT_TRUE(server_ok);
}

TEST_F(TlsStreamTest, ConcurrentReadAndWriteOnOneStream) {
  constexpr std::size_t kSize = 10 << 20;
  const std::string c2s = pattern(kSize, 3);
  const std::string s2c = pattern(kSize, 4);
  bool handshaken_c = false, handshaken_s = false;
  Checksum at_server, at_client;
  error_code server_end, client_end;
  // Each side: a writer and a reader coroutine on the same stream, started after the handshake.
  auto side = [&](TlsStream& s, const std::string& out, Checksum& in, error_code& end,
                  bool& handshaken) -> asio::awaitable<void> {
    auto ec = co_await s.handshake();
    EXPECT_FALSE(ec) << ec.message();
    if (ec) co_return;
    handshaken = true;
    auto ex = co_await asio::this_coro::executor;
    int finished = 0;
    asio::steady_timer both_done(ex, asio::steady_timer::time_point::max());
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          // Uneven write sizes so records and socket writes do not line up.
          std::size_t at = 0, step = 1;
          while (at < out.size()) {
            std::size_t n = std::min(out.size() - at, 1000 + (step++ * 7919) % 70000);
            auto wec = co_await s.write_all(asio::buffer(out.data() + at, n));
            EXPECT_FALSE(wec) << wec.message();
            if (wec) break;
            at += n;
          }
          EXPECT_FALSE(co_await s.shutdown_write());
          if (++finished == 2) both_done.cancel();
        },
        asio::detached);
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto [rec, sum] = co_await read_to_end(s);
          end = rec;
          in = sum;
          if (++finished == 2) both_done.cancel();
        },
        asio::detached);
    while (finished < 2) co_await both_done.async_wait(asio::as_tuple(asio::use_awaitable));
  };
  run_all(io, {
                  [&]() { return side(*server, s2c, at_server, server_end, handshaken_s); },
                  [&]() { return side(*client, c2s, at_client, client_end, handshaken_c); },
              });
  ASSERT_TRUE(handshaken_c && handshaken_s);
  EXPECT_EQ(server_end, asio::error::eof) << server_end.message();
  EXPECT_EQ(client_end, asio::error::eof) << client_end.message();
  EXPECT_EQ(at_server.n, kSize);
  EXPECT_EQ(at_client.n, kSize);
  EXPECT_TRUE(at_server == checksum(c2s));
  EXPECT_TRUE(at_client == checksum(s2c));
}

TEST_F(TlsStreamTest, ExpectedIdentityMismatchFailsClientHandshake) {
  tls::expect_peer_identity(client->native_handle(), pki.cluster.workload("shop", "not-web"));
  error_code client_ec, server_ec;
  run_all(io,
          {
              [&]() -> asio::awaitable<void> {
                server_ec = co_await server->handshake();
                if (!server_ec) {  // TLS 1.3: the server may finish first; the alert shows on read
                  auto [rec, sum] = co_await read_to_end(*server);
                  server_ec = rec;
                }
              },
              [&]() -> asio::awaitable<void> {
                client_ec = co_await client->handshake();
                client->close();
              },
          });
  EXPECT_TRUE(client_ec);
  auto why = tls::peer_verify_error(client->native_handle());
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(why->code, "unexpected_identity");
  EXPECT_TRUE(server_ec);
  EXPECT_NE(server_ec, asio::error::eof);
}

TEST_F(TlsStreamTest, ExpectedIdentityMatchSucceeds) {
  tls::expect_peer_identity(client->native_handle(), pki.server_id);
  error_code client_ec = asio::error::would_block, server_ec = asio::error::would_block;
  run_all(io, {
                  [&]() -> asio::awaitable<void> { server_ec = co_await server->handshake(); },
                  [&]() -> asio::awaitable<void> { client_ec = co_await client->handshake(); },
              });
  EXPECT_FALSE(client_ec) << client_ec.message();
  EXPECT_FALSE(server_ec) << server_ec.message();
}

TEST_F(TlsStreamTest, ClientWithoutCertificateIsRefusedWhenRequired) {
  auto anon_ctx = must(tls::make_client_context(nullptr, pki.cluster.bundle));
  auto [c, s] = socket_pair(io);
  TlsStream anon(std::move(c), anon_ctx, TlsStream::Role::kClient);
  TlsStream srv(std::move(s), pki.server_ctx, TlsStream::Role::kServer);
  error_code server_ec, client_ec;
  run_all(io, {
                  [&]() -> asio::awaitable<void> {
                    server_ec = co_await srv.handshake();
                    srv.close();
                  },
                  [&]() -> asio::awaitable<void> {
                    client_ec = co_await anon.handshake();
                    if (!client_ec) {  // TLS 1.3: the refusal arrives after the client's handshake
                      auto [rec, sum] = co_await read_to_end(anon);
                      client_ec = rec;
                    }
                  },
              });
  EXPECT_TRUE(server_ec);
  EXPECT_TRUE(client_ec);
  EXPECT_NE(client_ec, asio::error::eof);
}

TEST_F(TlsStreamTest, PeerClosesDuringHandshake) {
  error_code server_ec;
  client->close();
  run_all(io, {[&]() -> asio::awaitable<void> { server_ec = co_await server->handshake(); }});
  EXPECT_TRUE(server_ec);
}

TEST_F(TlsStreamTest, WriteToResetPeerFailsInsteadOfHanging) {
  error_code write_ec;
  run_all(io, {
                  [&]() -> asio::awaitable<void> {
                    auto ec = co_await server->handshake();
                    EXPECT_FALSE(ec) << ec.message();
                    server->socket().set_option(asio::socket_base::linger(true, 0));
                    server->close();  // RST
                  },
                  [&]() -> asio::awaitable<void> {
                    auto ec = co_await client->handshake();
                    EXPECT_FALSE(ec) << ec.message();
                    if (ec) co_return;
                    const std::string big =
                        pattern(20 << 20, 8);  // more than the socket buffers hold
                    write_ec = co_await client->write_all(asio::buffer(big));
                  },
              });
  EXPECT_TRUE(write_ec);
}

TEST_F(TlsStreamTest, ZeroSizeReadIsNotAnError) {
  // Asio's convention: a read into an empty buffer completes at once with no error.
  error_code read_ec = asio::error::would_block;
  std::size_t n = 99;
  run_all(io, {
                  [&]() -> asio::awaitable<void> {
                    auto ec = co_await server->handshake();
                    EXPECT_FALSE(ec) << ec.message();
                    if (!ec) {
                      EXPECT_FALSE(co_await server->write_all(asio::buffer(std::string_view("x"))));
                    }
                  },
                  [&]() -> asio::awaitable<void> {
                    auto ec = co_await client->handshake();
                    EXPECT_FALSE(ec) << ec.message();
                    if (ec) co_return;
                    auto [got_ec, got] = co_await read_exactly(*client, 1);  // the connection works
                    EXPECT_EQ(got, "x");
                    std::tie(read_ec, n) = co_await client->read_some(asio::mutable_buffer());
                  },
              });
  EXPECT_EQ(n, 0u);
  EXPECT_FALSE(read_ec) << read_ec.message();
}

// ---------------------------------------------------------------------------------------------
// relay()

struct Counters {
  metrics::CounterFamily family{"strait_test_relay_bytes_total", "test", {"direction"}};
  RelayCounters relay{family.with({"read"}), family.with({"write"})};
};

// app client `c` <-> [a  relay  b] <-> upstream `s`
struct RelayRig {
  explicit RelayRig(asio::io_context& io) {
    auto [c0, a0] = socket_pair(io);
    auto [b0, s0] = socket_pair(io);
    c = std::make_unique<PlainStream>(std::move(c0));
    a = std::make_unique<PlainStream>(std::move(a0));
    b = std::make_unique<PlainStream>(std::move(b0));
    s = std::make_unique<PlainStream>(std::move(s0));
  }
  std::unique_ptr<PlainStream> c, a, b, s;
};

TEST(Relay, CountsBothWaysAndPropagatesHalfClose) {
  asio::io_context io;
  RelayRig rig(io);
  Counters counters;
  const std::string request = pattern(300'000, 5);
  const std::string answer_prefix = "seen:";
  RelayResult result;
  bool relay_done = false, client_ok = false, echo_ok = false;
  run_all(io,
          {
              [&]() -> asio::awaitable<void> {
                result = co_await relay(*rig.a, *rig.b, counters.relay, 30s);
                relay_done = true;
                rig.a->close();
                rig.b->close();
              },
              [&]() -> asio::awaitable<void> {  // upstream: reads to EOF, then answers
                std::string got;
                auto [ec, sum] = co_await read_to_end(*rig.s, &got);
                EXPECT_EQ(ec, asio::error::eof) << ec.message();
                EXPECT_EQ(got, request);
                std::string answer = answer_prefix + std::to_string(got.size()) + got;
                EXPECT_FALSE(co_await rig.s->write_all(asio::buffer(answer)));
                EXPECT_FALSE(co_await rig.s->shutdown_write());
                echo_ok = true;
              },
              [&]() -> asio::awaitable<void> {  // app client: sends, half-closes, reads the answer
                EXPECT_FALSE(co_await rig.c->write_all(asio::buffer(request)));
                EXPECT_FALSE(co_await rig.c->shutdown_write());
                std::string got;
                auto [ec, sum] = co_await read_to_end(*rig.c, &got);
                EXPECT_EQ(ec, asio::error::eof) << ec.message();
                EXPECT_EQ(got, answer_prefix + std::to_string(request.size()) + request);
                client_ok = true;
              },
          });
  ASSERT_TRUE(relay_done);
  EXPECT_TRUE(client_ok);
  EXPECT_TRUE(echo_ok);
  const std::uint64_t answer_size =
      answer_prefix.size() + std::to_string(request.size()).size() + request.size();
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.client_to_server, request.size());
  EXPECT_EQ(result.server_to_client, answer_size);
  EXPECT_EQ(counters.relay.read.value(), request.size());
  EXPECT_EQ(counters.relay.write.value(), answer_size);
}

TEST(Relay, IdleTimeoutClosesBothSides) {
  asio::io_context io;
  RelayRig rig(io);
  Counters counters;
  RelayResult result;
  error_code client_end, server_end;
  bool relay_done = false;
  run_all(io, {
                  [&]() -> asio::awaitable<void> {
                    result = co_await relay(*rig.a, *rig.b, counters.relay, 200ms);
                    relay_done = true;
                  },
                  [&]() -> asio::awaitable<void> {
                    // One exchange first: activity before the silence.
                    EXPECT_FALSE(co_await rig.c->write_all(asio::buffer(std::string_view("hi"))));
                    auto [ec, got] = co_await read_exactly(*rig.c, 3);
                    EXPECT_EQ(got, "yo!");
                    std::tie(client_end, std::ignore) = co_await read_to_end(*rig.c);
                  },
                  [&]() -> asio::awaitable<void> {
                    auto [ec, got] = co_await read_exactly(*rig.s, 2);
                    EXPECT_EQ(got, "hi");
                    EXPECT_FALSE(co_await rig.s->write_all(asio::buffer(std::string_view("yo!"))));
                    std::tie(server_end, std::ignore) = co_await read_to_end(*rig.s);
                  },
              });
  ASSERT_TRUE(relay_done);
  EXPECT_EQ(result.error, "idle_timeout");
  EXPECT_EQ(result.client_to_server, 2u);
  EXPECT_EQ(result.server_to_client, 3u);
  // The relay closed both of its sockets: each outer end sees the connection end.
  EXPECT_TRUE(client_end);
  EXPECT_TRUE(server_end);
}

TEST(Relay, ResetEndsRelayWithErrorAndClosesBoth) {
  asio::io_context io;
  RelayRig rig(io);
  Counters counters;
  RelayResult result;
  error_code client_end;
  bool relay_done = false;
  run_all(io,
          {
              [&]() -> asio::awaitable<void> {
                result = co_await relay(*rig.a, *rig.b, counters.relay, 30s);
                relay_done = true;
              },
              [&]() -> asio::awaitable<void> {
                EXPECT_FALSE(co_await rig.c->write_all(asio::buffer(std::string_view("hello"))));
                std::tie(client_end, std::ignore) = co_await read_to_end(*rig.c);
              },
              [&]() -> asio::awaitable<void> {
                auto [ec, got] = co_await read_exactly(*rig.s, 5);
                EXPECT_EQ(got, "hello");
                rig.s->socket().set_option(asio::socket_base::linger(true, 0));
                rig.s->close();  // RST
              },
          });
  ASSERT_TRUE(relay_done);
  EXPECT_FALSE(result.error.empty());
  EXPECT_NE(result.error, "idle_timeout");
  EXPECT_EQ(result.error, "connection_reset");
  EXPECT_EQ(result.client_to_server, 5u);
  EXPECT_TRUE(client_end) << "the client side stayed open";
  EXPECT_FALSE(rig.a->socket().is_open());
  EXPECT_FALSE(rig.b->socket().is_open());
}

TEST(Relay, IdleTimeoutAfterOneDirectionEnded) {
  asio::io_context io;
  RelayRig rig(io);
  Counters counters;
  RelayResult result;
  bool relay_done = false;
  error_code server_end, client_end;
  run_all(io, {
                  [&]() -> asio::awaitable<void> {
                    result = co_await relay(*rig.a, *rig.b, counters.relay, 200ms);
                    relay_done = true;
                  },
                  [&]() -> asio::awaitable<void> {
                    EXPECT_FALSE(
                        co_await rig.c->shutdown_write());  // client done sending, upstream silent
                    std::tie(client_end, std::ignore) = co_await read_to_end(*rig.c);
                  },
                  [&]() -> asio::awaitable<void> {
                    auto [ec, sum] = co_await read_to_end(*rig.s);
                    EXPECT_EQ(ec, asio::error::eof);  // the half-close arrived
                    server_end = ec;
                  },
              });
  ASSERT_TRUE(relay_done);
  EXPECT_EQ(result.error, "idle_timeout");
  EXPECT_TRUE(client_end);
}

TEST(Relay, ClientResetEndsRelay) {
  asio::io_context io;
  RelayRig rig(io);
  Counters counters;
  RelayResult result;
  error_code server_end;
  bool relay_done = false;
  run_all(io, {
                  [&]() -> asio::awaitable<void> {
                    result = co_await relay(*rig.a, *rig.b, counters.relay, 30s);
                    relay_done = true;
                  },
                  [&]() -> asio::awaitable<void> {
                    auto [ec, got] = co_await read_exactly(*rig.c, 3);
                    EXPECT_EQ(got, "abc");
                    rig.c->socket().set_option(asio::socket_base::linger(true, 0));
                    rig.c->close();
                  },
                  [&]() -> asio::awaitable<void> {
                    EXPECT_FALSE(co_await rig.s->write_all(asio::buffer(std::string_view("abc"))));
                    std::tie(server_end, std::ignore) = co_await read_to_end(*rig.s);
                  },
              });
  ASSERT_TRUE(relay_done);
  EXPECT_EQ(result.error, "connection_reset");
  EXPECT_EQ(result.server_to_client, 3u);
  EXPECT_TRUE(server_end);
}

// relay() over AnyStream: plain app side, TLS upstream (the outbound shape), through a half-close.
TEST_F(TlsStreamTest, RelayPlainToTlsWithHalfClose) {
  auto [c0, a0] = socket_pair(io);
  PlainStream app(std::move(c0));
  AnyStream in(std::make_unique<PlainStream>(std::move(a0)));
  AnyStream out(std::move(client));  // the fixture's TLS client, towards `server`
  EXPECT_FALSE(in.is_tls());
  EXPECT_TRUE(out.is_tls());
  Counters counters;
  RelayResult result;
  const std::string request = pattern(500'000, 6);
  const std::string reply = pattern(70'000, 7);
  bool relay_done = false, app_ok = false, server_ok = false;
  run_all(io, {
                  [&]() -> asio::awaitable<void> {
                    auto ec = co_await out.tls()->handshake();
                    EXPECT_FALSE(ec) << ec.message();
                    if (ec) {
                      in.close();
                      co_return;
                    }
                    result = co_await relay(in, out, counters.relay, 30s);
                    relay_done = true;
                    in.close();
                    out.close();
                  },
                  [&]() -> asio::awaitable<void> {
                    auto ec = co_await server->handshake();
                    EXPECT_FALSE(ec) << ec.message();
                    if (ec) co_return;
                    auto [rec, sum] = co_await read_to_end(*server);
                    EXPECT_EQ(rec, asio::error::eof) << rec.message();
                    EXPECT_TRUE(sum == checksum(request));
                    EXPECT_FALSE(co_await server->write_all(asio::buffer(reply)));
                    EXPECT_FALSE(co_await server->shutdown_write());
                    server_ok = true;
                  },
                  [&]() -> asio::awaitable<void> {
                    EXPECT_FALSE(co_await app.write_all(asio::buffer(request)));
                    EXPECT_FALSE(co_await app.shutdown_write());
                    auto [rec, sum] = co_await read_to_end(app);
                    EXPECT_EQ(rec, asio::error::eof) << rec.message();
                    EXPECT_TRUE(sum == checksum(reply));
                    app_ok = true;
                  },
              });
  ASSERT_TRUE(relay_done);
  EXPECT_TRUE(app_ok);
  EXPECT_TRUE(server_ok);
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.client_to_server, request.size());
  EXPECT_EQ(result.server_to_client, reply.size());
}

// The idle timeout must also stop a relay whose upstream is a TlsStream with a pending read.
TEST_F(TlsStreamTest, RelayIdleTimeoutOverTls) {
  auto [c0, a0] = socket_pair(io);
  PlainStream app(std::move(c0));
  AnyStream in(std::make_unique<PlainStream>(std::move(a0)));
  AnyStream out(std::move(client));
  Counters counters;
  RelayResult result;
  bool relay_done = false;
  error_code app_end, server_end;
  run_all(io, {
                  [&]() -> asio::awaitable<void> {
                    auto ec = co_await out.tls()->handshake();
                    EXPECT_FALSE(ec) << ec.message();
                    if (ec) {
                      in.close();
                      co_return;
                    }
                    result = co_await relay(in, out, counters.relay, 200ms);
                    relay_done = true;
                  },
                  [&]() -> asio::awaitable<void> {
                    auto ec = co_await server->handshake();
                    EXPECT_FALSE(ec) << ec.message();
                    if (ec) co_return;
                    std::tie(server_end, std::ignore) = co_await read_to_end(*server);
                  },
                  [&]() -> asio::awaitable<void> {
                    std::tie(app_end, std::ignore) = co_await read_to_end(app);
                  },
              });
  ASSERT_TRUE(relay_done);
  EXPECT_EQ(result.error, "idle_timeout");
  EXPECT_TRUE(app_end);
  EXPECT_EQ(server_end, asio::ssl::error::stream_truncated) << server_end.message();
}

}  // namespace
}  // namespace strait::proxy
