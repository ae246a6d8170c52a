// Protocol detection: the classifier on the shapes that matter (the HTTP/2 preface, HTTP/1
// request lines, what other protocols send first), and detect() over real sockets — split
// reads, silence until the timeout, early close — always handing back every byte it read.
#include "sidecar/proxy/detect.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace strait::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

TEST(Classify, Http2PrefaceAndItsPrefixes) {
  EXPECT_EQ(classify(kHttp2Preface), Protocol::kHttp2);
  EXPECT_EQ(classify(std::string(kHttp2Preface) + "\x00\x00\x12\x04"), Protocol::kHttp2);
  for (std::size_t n = 1; n < kHttp2Preface.size(); ++n) {
    EXPECT_FALSE(classify(kHttp2Preface.substr(0, n)).has_value()) << n;
  }
  EXPECT_EQ(classify("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"), Protocol::kOpaque);
}

TEST(Classify, Http1RequestLines) {
  for (const char* line : {"GET / HTTP/1.1\r\n", "POST /a?b=c HTTP/1.0\r\nHost: x\r\n",
                           "OPTIONS * HTTP/1.1\r\n", "CONNECT 10.0.0.1:443 HTTP/1.1\r\n",
                           "GET http://web.shop/x HTTP/1.1\r\n", "M-SEARCH * HTTP/1.1\r\n"}) {
    EXPECT_EQ(classify(line), Protocol::kHttp1) << line;
  }
  // Still possible: wait for more.
  for (const char* part :
       {"G", "GET", "GET ", "GET /index", "GET / HTTP/1", "GET / HTTP/1.1", "GET / HTTP/1.1\r"}) {
    EXPECT_FALSE(classify(part).has_value()) << part;
  }
}

TEST(Classify, EverythingElseIsOpaque) {
  for (std::string_view first :
       {std::string_view("\x16\x03\x01\x02\x00\x01", 6),  // a TLS ClientHello
        std::string_view("SSH-2.0-OpenSSH_9.2\r\n"), std::string_view("*1\r\n$4\r\nPING\r\n"),
        std::string_view("GET / HTTP/2.0\r\n"), std::string_view("GET / HTTP/1.1\n"),
        std::string_view("GET  / HTTP/1.1\r\n"), std::string_view(" GET / HTTP/1.1\r\n"),
        std::string_view("GET /\x01 HTTP/1.1\r\n"), std::string_view("\r\n"),
        // Decided at once, not after the timeout: no method is lower case or this long.
        std::string_view("hello-through-strait"), std::string_view("get"),
        std::string_view("{\"op\":1}"), std::string_view("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}) {
    EXPECT_EQ(classify(first), Protocol::kOpaque) << first;
  }
  // A "request line" that never ends within the detection window.
  EXPECT_EQ(classify("GET /" + std::string(kDetectBytes, 'a')), Protocol::kOpaque);
}

struct Pair {
  explicit Pair(asio::io_context& io) : client(io) {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    client.connect(acceptor.local_endpoint());
    server = std::make_unique<AnyStream>(std::make_unique<PlainStream>(acceptor.accept()));
  }
  tcp::socket client;
  std::unique_ptr<AnyStream> server;
};

// Runs detect() on the server side while `client` plays its part; the result.
Detected run(const std::function<asio::awaitable<void>(tcp::socket&)>& client,
             std::chrono::milliseconds timeout) {
  asio::io_context io;
  Pair p(io);
  Detected out;
  bool done = false;
  asio::co_spawn(io, client(p.client), asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        out = co_await detect(*p.server, timeout);
        done = true;
        boost::system::error_code ec;
        p.client.close(ec);
      },
      asio::detached);
  io.run_for(10s);
  EXPECT_TRUE(done);
  return out;
}

asio::awaitable<void> send(tcp::socket& s, std::string data) {
  co_await asio::async_write(s, asio::buffer(data), asio::use_awaitable);
}
asio::awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

TEST(Detect, SplitRequestLineIsHttp1AndEveryByteIsHandedBack) {
  const std::string request = "GET /x HTTP/1.1\r\nHost: web\r\n\r\n";
  auto d = run(
      [&](tcp::socket& s) -> asio::awaitable<void> {
        co_await send(s, request.substr(0, 5));
        co_await pause(50ms);  // a second segment: detection must wait for it, not decide
        co_await send(s, request.substr(5));
      },
      5s);
  EXPECT_EQ(d.protocol, Protocol::kHttp1);
  EXPECT_FALSE(d.timed_out);
  EXPECT_EQ(request.rfind(d.prefix, 0), 0u) << d.prefix;  // a prefix of what was sent
  EXPECT_GE(d.prefix.size(), 17u);                        // at least the request line
}

TEST(Detect, Http2Preface) {
  auto d = run([&](tcp::socket& s) { return send(s, std::string(kHttp2Preface) + "frames"); }, 5s);
  EXPECT_EQ(d.protocol, Protocol::kHttp2);
  EXPECT_EQ(d.prefix.rfind(kHttp2Preface, 0), 0u);
}

// A server-first protocol: the client says nothing; after the timeout it is opaque, no byte
// lost or invented.
TEST(Detect, SilenceIsOpaqueAfterTheTimeout) {
  auto d = run([](tcp::socket&) -> asio::awaitable<void> { co_return; }, 200ms);
  EXPECT_EQ(d.protocol, Protocol::kOpaque);
  EXPECT_TRUE(d.timed_out);
  EXPECT_EQ(d.prefix, "");
}

TEST(Detect, BytesThatCannotBeHttpAreOpaqueAtOnce) {
  auto d = run([](tcp::socket& s) { return send(s, "*1\r\n$4\r\nPING\r\n"); }, 5s);
  EXPECT_EQ(d.protocol, Protocol::kOpaque);
  EXPECT_FALSE(d.timed_out);
  EXPECT_EQ(d.prefix, "*1\r\n$4\r\nPING\r\n");
}

TEST(Detect, CloseBeforeDecidingIsOpaqueWithWhatArrived) {
  auto d = run(
      [](tcp::socket& s) -> asio::awaitable<void> {
        co_await send(s, "GET /");
        s.shutdown(tcp::socket::shutdown_send);
      },
      5s);
  EXPECT_EQ(d.protocol, Protocol::kOpaque);
  EXPECT_TRUE(d.closed);
  EXPECT_EQ(d.prefix, "GET /");
}

TEST(Detect, DefaultOpaquePortsAreTheReferences) {
  EXPECT_EQ(default_opaque_ports(),
            (std::set<std::uint16_t>{25, 587, 3306, 4444, 5432, 6379, 9300, 11211}));
}

}  // namespace
}  // namespace strait::proxy
