// The HTTP/1.x sessions over loopback sockets: H1Server driven by curl (GET, large POST echoed,
// chunked upload, Expect: 100-continue, keep-alive reuse, HEAD, HTTP/1.0), by raw bytes
// (pipelining, smuggling, size and time limits, aborted bodies, client gone, drain, upgrade
// and CONNECT hand-off) and by wrk; H1Client against H1Server and against scripted raw
// servers (framings, trailers, reuse, 1xx, malformed and missing responses); H1Pool reuse.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sidecar/proxy/http/h1_body.h"
#include "sidecar/proxy/http/h1_session.h"
#include "tests/support/coro_test.h"

namespace strait::proxy::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using strait::testing::Alphabet;
using strait::testing::Coro;
using strait::testing::pattern;
using strait::testing::plain;
using strait::testing::run_all;
using strait::testing::run_until;
using strait::testing::sleep_for;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Runs one coroutine to its end (plus whatever else is on `io`).
void run_coro(asio::io_context& io, Coro coro) { run_all(io, {std::move(coro)}); }

// A plain stream over a new connection to `to`.
asio::awaitable<Result<std::unique_ptr<AnyStream>>> connect_plain(asio::io_context& io,
                                                                  tcp::endpoint to) {
  tcp::socket s(io);
  auto [ec] = co_await s.async_connect(to, kTuple);
  if (ec) co_return make_error("connect_failed", ec.message());
  co_return plain(std::move(s));
}

// An H1Client over a new connection to `to`.
asio::awaitable<std::unique_ptr<H1Client>> connect_client(asio::io_context& io, tcp::endpoint to,
                                                          H1Limits l) {
  tcp::socket s(io);
  co_await s.async_connect(to, kTuple);
  co_return std::make_unique<H1Client>(plain(std::move(s)), l);
}

// ---------------------------------------------------------------------------------------------
// The application behind the server under test.

struct App {
  asio::any_io_executor ex;
  std::vector<RequestHead> heads;
  std::string forever_cancel;  // why /forever's body was cancelled
  std::string ignored_cancel;  // why /ignore's request body was cancelled (seen later)
  Body ignored_body;
};

Response text(asio::any_io_executor ex, unsigned status, std::string body) {
  Response r;
  r.head.status = status;
  r.head.fields = {{"content-type", "text/plain"}, {"content-length", std::to_string(body.size())}};
  r.body = complete_body(ex, std::move(body));
  return r;
}

asio::awaitable<void> produce_chunks(Body pipe) {
  for (const char* part : {"one ", "two ", "three"}) {
    pipe->push(part);
    co_await sleep_for(20ms);
  }
  pipe->finish({{"x-checksum", "123"}});
}

asio::awaitable<void> produce_then_abort(Body pipe) {
  pipe->push("partial data");
  co_await sleep_for(50ms);
  pipe->abort("upstream_reset");
}

asio::awaitable<void> produce_forever(Body pipe, App* app) {
  while (!pipe->cancelled()) {
    pipe->push(std::string(1000, 't'));
    co_await sleep_for(5ms);
    if (!pipe->cancelled() && !pipe->writable()) co_await pipe->wait_writable();
  }
  app->forever_cancel = pipe->cancel_reason();
}

asio::awaitable<Response> serve_app(Request req, App* app) {
  app->heads.push_back(req.head);
  const auto ex = app->ex;
  const std::string& path = req.head.path;
  if (path == "/hello" || path == "/") co_return text(ex, 200, "hello world");
  if (path == "/echo") {  // the request body streams straight back
    Response r;
    if (auto cl = find_field(req.head.fields, "content-length")) {
      r.head.fields.emplace_back("content-length", std::string(*cl));
    }
    r.body = req.body ? req.body : complete_body(ex, "");
    co_return r;
  }
  if (path == "/collect") {
    auto got = co_await collect(req.body);
    std::string trailers;
    for (const auto& [n, v] : got.trailers) trailers += n + "=" + v + ";";
    co_return text(ex, 200, std::to_string(got.data.size()) + " " + got.error + " " + trailers);
  }
  if (path == "/chunked") {
    Response r;
    r.body = std::make_shared<BodyPipe>(ex);
    asio::co_spawn(ex, produce_chunks(r.body), asio::detached);
    co_return r;
  }
  if (path == "/abort") {
    Response r;
    r.body = std::make_shared<BodyPipe>(ex);
    asio::co_spawn(ex, produce_then_abort(r.body), asio::detached);
    co_return r;
  }
  if (path == "/forever") {
    Response r;
    r.body = std::make_shared<BodyPipe>(ex, 4096);
    asio::co_spawn(ex, produce_forever(r.body, app), asio::detached);
    co_return r;
  }
  if (path == "/ignore") {
    app->ignored_body = req.body;  // kept, never read
    co_return text(ex, 200, "ignored");
  }
  co_return text(ex, 404, "no such path");
}

// ---------------------------------------------------------------------------------------------
// A listening H1Server on 127.0.0.1:<any port>.

class H1ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app.ex = io.get_executor();
    asio::co_spawn(io, accept_loop(), asio::detached);
  }
  void TearDown() override {
    error_code ec;
    acceptor.close(ec);
  }

  asio::awaitable<void> accept_loop() {
    while (true) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) co_return;
      ++accepted;
      asio::co_spawn(io, serve_one(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve_one(tcp::socket socket) {
    auto stream = plain(std::move(socket));
    App* a = &app;
    auto result = co_await H1Server::serve(
        *stream, "", limits, [a](Request r) { return serve_app(std::move(r), a); },
        [this](std::string_view reason, std::string_view) { refusals.emplace_back(reason); });
    results.push_back(std::move(result));
    if (results.back().upgrade) stream->close();
  }

  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) +
           std::string(path);
  }

  struct Command {
    int status = -1;
    std::string out;  // stdout and stderr
    std::chrono::milliseconds took{0};
  };
  // Runs a shell command on another thread while the server runs here.
  Command run_command(const std::string& cmd) {
    Command c;
    std::atomic<bool> done{false};
    std::thread t([&] {
      const auto start = Clock::now();
      FILE* p = popen((cmd + " 2>&1").c_str(), "r");
      if (p) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) c.out.append(buf, n);
        c.status = pclose(p);
      }
      c.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      done = true;
    });
    run_until(io, [&] { return done.load(); });
    t.join();
    return c;
  }

  struct Raw {
    std::string data;
    error_code end;
    bool timed_out = false;
    std::chrono::milliseconds took{0};
  };
  // Connects, writes `bytes` (optionally half-closes), reads until the server closes.
  Raw raw(const std::string& bytes, bool shut_write = false,
          std::chrono::milliseconds within = 10s) {
    Raw r;
    run_coro(io, [&]() -> asio::awaitable<void> {
      tcp::socket s(io);
      co_await s.async_connect(acceptor.local_endpoint(), kTuple);
      auto stream = plain(std::move(s));
      const auto start = Clock::now();
      co_await stream->write_all(asio::buffer(bytes));
      if (shut_write) co_await stream->shutdown_write();
      const auto deadline = start + within;
      while (true) {
        auto o = co_await h1::read_until(*stream, r.data, 64 * 1024, deadline);
        if (o.n > 0) continue;
        r.end = o.ec;
        r.timed_out = o.timed_out;
        break;
      }
      r.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    });
    return r;
  }

  static std::size_t count(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
  }

  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)};
  App app;
  H1Limits limits;
  int accepted = 0;
  std::vector<std::string> refusals;
  std::vector<H1ServeResult> results;
};

// ---- curl

TEST_F(H1ServerTest, CurlGet) {
  auto c = run_command("curl -s --max-time 10 " + url("/hello"));
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(c.out, "hello world");
  ASSERT_EQ(app.heads.size(), 1u);
  EXPECT_EQ(app.heads[0].method, "GET");
  EXPECT_EQ(app.heads[0].path, "/hello");
  EXPECT_EQ(app.heads[0].authority,
            "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()));
  EXPECT_EQ(app.heads[0].version, HttpVersion::kHttp11);
  EXPECT_FALSE(find_field(app.heads[0].fields, "host"));
  EXPECT_TRUE(find_field(app.heads[0].fields, "user-agent"));
}

class CurlBody : public H1ServerTest {
 protected:
  std::string write_file(const std::string& data) {
    const std::string path =
        ::testing::TempDir() + "h1_body_" + std::to_string(reinterpret_cast<std::uintptr_t>(this));
    std::ofstream(path, std::ios::binary) << data;
    files.push_back(path);
    return path;
  }
  std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void TearDown() override {
    for (const auto& f : files) std::remove(f.c_str());
    H1ServerTest::TearDown();
  }
  std::vector<std::string> files;
};

TEST_F(CurlBody, PostOneMegabyteEchoed) {
  const std::string body = pattern(1024 * 1024, 1, Alphabet::kLetters);
  const std::string in = write_file(body);
  const std::string out = in + ".out";
  files.push_back(out);
  auto c = run_command("curl -s --max-time 20 -H 'Expect:' --data-binary @" + in + " -o " + out +
                       " " + url("/echo"));
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_TRUE(read_file(out) == body) << "echoed body differs";
  ASSERT_EQ(app.heads.size(), 1u);
  EXPECT_EQ(find_field(app.heads[0].fields, "content-length"), "1048576");
}

TEST_F(CurlBody, ChunkedUpload) {
  const std::string body = pattern(300 * 1000, 2, Alphabet::kLetters);
  const std::string in = write_file(body);
  auto c = run_command("curl -s --max-time 20 -H 'Transfer-Encoding: chunked' --data-binary @" +
                       in + " " + url("/collect"));
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(c.out, "300000  ");
  ASSERT_EQ(app.heads.size(), 1u);
  EXPECT_FALSE(find_field(app.heads[0].fields, "content-length"));
  EXPECT_FALSE(find_field(app.heads[0].fields, "transfer-encoding"));
}

TEST_F(CurlBody, ExpectContinueAnsweredAtOnce) {
  const std::string body =
      pattern(1024 * 1024 + 1000, 3, Alphabet::kLetters);  // over curl's Expect threshold
  const std::string in = write_file(body);
  auto c = run_command("curl -sv --max-time 20 --data-binary @" + in +
                       " -o /dev/null -w '%{size_download}' " + url("/echo"));
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_NE(c.out.find("Expect: 100-continue"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("HTTP/1.1 100 Continue"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find(std::to_string(body.size())), std::string::npos);
  EXPECT_LT(c.took, 900ms) << "curl waited for the 100 instead of getting it";
  ASSERT_EQ(app.heads.size(), 1u);
  EXPECT_TRUE(app.heads[0].expect_continue);
  EXPECT_FALSE(find_field(app.heads[0].fields, "expect"));
}

TEST_F(H1ServerTest, CurlKeepAliveReusesTheConnection) {
  auto c = run_command("curl -sv --max-time 10 " + url("/hello") + " " + url("/chunked") + " " +
                       url("/hello"));
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(count(c.out, "hello world"), 2u);
  EXPECT_NE(c.out.find("one two three"), std::string::npos);
  EXPECT_NE(c.out.find("Re-using existing connection"), std::string::npos) << c.out;
  EXPECT_EQ(accepted, 1);
  EXPECT_EQ(app.heads.size(), 3u);
}

TEST_F(H1ServerTest, CurlHead) {
  auto c = run_command("curl -sI --max-time 10 " + url("/hello"));
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(c.out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << c.out;
  std::string lower = c.out;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  EXPECT_NE(lower.find("content-length: 11\r\n"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("hello world"), std::string::npos);
}

TEST_F(H1ServerTest, CurlHttp10) {
  auto c = run_command("curl -s --http1.0 --max-time 10 " + url("/hello") + " " + url("/chunked"));
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(c.out, "hello worldone two three");
  ASSERT_EQ(app.heads.size(), 2u);
  EXPECT_EQ(app.heads[0].version, HttpVersion::kHttp10);
  EXPECT_EQ(accepted, 2);  // HTTP/1.0 without keep-alive: one connection each
}

// ---- raw bytes

TEST_F(H1ServerTest, PipelinedRequestsAnsweredInOrder) {
  auto r =
      raw("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
          "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nsecond"
          "GET /chunked HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.end, asio::error::eof);
  const auto a = r.data.find("hello world");
  const auto b = r.data.find("\r\n\r\nsecond");
  const auto c = r.data.find("Transfer-Encoding: chunked");
  ASSERT_NE(a, std::string::npos) << r.data;
  ASSERT_NE(b, std::string::npos) << r.data;
  ASSERT_NE(c, std::string::npos) << r.data;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(count(r.data, "HTTP/1.1 200 OK\r\n"), 3u);
  // The last asked for trailers and said close.
  EXPECT_NE(r.data.find("0\r\nx-checksum: 123\r\n\r\n"), std::string::npos) << r.data;
  EXPECT_NE(r.data.find("Connection: close"), std::string::npos);
  EXPECT_EQ(accepted, 1);
  run_until(io, [&] { return results.size() == 1; });
  EXPECT_EQ(results[0].requests, 3u);
}

TEST_F(H1ServerTest, TrailersOnlyWhenTheClientTakesThem) {
  auto r = raw("GET /chunked HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_NE(r.data.find("5\r\nthree\r\n0\r\n\r\n"), std::string::npos) << r.data;
  EXPECT_EQ(r.data.find("x-checksum"), std::string::npos);
}

TEST_F(H1ServerTest, SmugglingRefusedAndClosed) {
  auto r =
      raw("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
          "0\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.data.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << r.data;
  EXPECT_NE(r.data.find("Connection: close"), std::string::npos);
  EXPECT_EQ(r.data.find("hello world"), std::string::npos);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(refusals, std::vector<std::string>{"request_smuggling"});
  EXPECT_TRUE(app.heads.empty());
}

TEST_F(H1ServerTest, TooLargeHeadIs431) {
  limits.max_head_bytes = 1024;
  auto r = raw("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(2000, 'x') + "\r\n\r\n");
  EXPECT_EQ(r.data.rfind("HTTP/1.1 431 ", 0), 0u) << r.data;
  EXPECT_EQ(refusals, std::vector<std::string>{"headers_too_large"});
}

TEST_F(H1ServerTest, MalformedIs400) {
  auto r = raw("GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n");
  EXPECT_EQ(r.data.rfind("HTTP/1.1 400 ", 0), 0u) << r.data;
  EXPECT_EQ(refusals, std::vector<std::string>{"bad_request"});
}

TEST_F(H1ServerTest, IncompleteHeadClosedAfterHeaderTimeout) {
  limits.header_timeout = 200ms;
  auto r = raw("GET /hello HTTP/1.1\r\nHost: a\r\n");
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.data, "");
  EXPECT_GE(r.took, 150ms);
  EXPECT_LT(r.took, 3s);
  EXPECT_EQ(refusals, std::vector<std::string>{"header_timeout"});
  run_until(io, [&] { return results.size() == 1; });
  EXPECT_EQ(results[0].end, H1ServeResult::End::kTimeout);
  EXPECT_EQ(results[0].reason, "header_timeout");
}

TEST_F(H1ServerTest, KeepAliveIdleTimeout) {
  limits.idle_timeout = 200ms;
  auto r = raw("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_NE(r.data.find("hello world"), std::string::npos);
  EXPECT_EQ(r.end, asio::error::eof);
  EXPECT_GE(r.took, 150ms);
  run_until(io, [&] { return results.size() == 1; });
  EXPECT_EQ(results[0].reason, "idle_timeout");
  EXPECT_TRUE(refusals.empty());  // an idle close is no refusal
}

TEST_F(H1ServerTest, Http10KeepAliveAndCloseDelimitedBody) {
  limits.idle_timeout = 200ms;
  auto r =
      raw("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
          "GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(r.data.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << r.data;
  EXPECT_NE(r.data.find("Connection: keep-alive\r\n"), std::string::npos) << r.data;
  // The second body has no length and HTTP/1.0 has no chunks: it ends with the connection.
  EXPECT_TRUE(r.data.ends_with("\r\n\r\none two three")) << r.data;
  EXPECT_EQ(r.end, asio::error::eof);
  EXPECT_EQ(accepted, 1);
}

TEST_F(H1ServerTest, AbortedChunkedBodyHasNoLastChunk) {
  auto r = raw("GET /abort HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_FALSE(r.timed_out) << "the connection must close";
  EXPECT_NE(r.data.find("Transfer-Encoding: chunked"), std::string::npos) << r.data;
  EXPECT_NE(r.data.find("c\r\npartial data\r\n"), std::string::npos) << r.data;
  EXPECT_EQ(r.data.find("0\r\n\r\n"), std::string::npos) << r.data;
  run_until(io, [&] { return results.size() == 1; });
  EXPECT_EQ(results[0].reason, "response_body_aborted");
}

TEST_F(H1ServerTest, AbortedCloseDelimitedBodyEndsWithReset) {
  auto r = raw("GET /abort HTTP/1.0\r\n\r\n");
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.end, asio::error::eof) << "a clean close would make the body look complete";
  run_until(io, [&] { return results.size() == 1; });
  EXPECT_EQ(results[0].reason, "response_body_aborted");
}

TEST_F(H1ServerTest, ClientGoneCancelsTheResponseBody) {
  run_coro(io, [&]() -> asio::awaitable<void> {
    tcp::socket s(io);
    co_await s.async_connect(acceptor.local_endpoint(), kTuple);
    std::string req = "GET /forever HTTP/1.1\r\nHost: a\r\n\r\n";
    co_await asio::async_write(s, asio::buffer(req), kTuple);
    char buf[512];
    co_await s.async_read_some(asio::buffer(buf), kTuple);  // the head has come
    s.set_option(asio::socket_base::linger(true, 0));
    s.close();  // a reset
  });
  run_until(io, [&] { return !app.forever_cancel.empty() && results.size() == 1; });
  EXPECT_EQ(app.forever_cancel, "client_gone");
  EXPECT_EQ(results[0].reason, "client_gone");
}

TEST_F(H1ServerTest, UnreadRequestBodyIsDrainedForTheNextRequest) {
  const std::string body(100 * 1000, 'b');
  auto r =
      raw("POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n\r\n" + body + "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_NE(r.data.find("ignored"), std::string::npos) << r.data.substr(0, 300);
  EXPECT_NE(r.data.find("hello world"), std::string::npos) << r.data.substr(0, 300);
  EXPECT_EQ(accepted, 1);
  ASSERT_TRUE(app.ignored_body);
  EXPECT_TRUE(app.ignored_body->cancelled());
}

TEST_F(H1ServerTest, HalfClosedClientStillGetsItsAnswers) {
  auto r = raw("GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /chunked HTTP/1.1\r\nHost: a\r\n\r\n",
               /*shut_write=*/true);
  EXPECT_EQ(r.end, asio::error::eof);
  EXPECT_NE(r.data.find("hello world"), std::string::npos);
  EXPECT_NE(r.data.find("0\r\n\r\n"), std::string::npos) << r.data;
}

TEST_F(H1ServerTest, AbsoluteFormTarget) {
  auto r =
      raw("GET http://shop.example:8080/hello?x=1 HTTP/1.1\r\nHost: other\r\n"
          "Connection: close\r\n\r\n");
  EXPECT_NE(r.data.find("404"), std::string::npos);  // the path has a query
  ASSERT_EQ(app.heads.size(), 1u);
  EXPECT_EQ(app.heads[0].authority, "shop.example:8080");
  EXPECT_EQ(app.heads[0].path, "/hello?x=1");
  EXPECT_EQ(app.heads[0].scheme, "http");
}

TEST_F(H1ServerTest, UpgradeIsHandedBack) {
  run_coro(io, [&]() -> asio::awaitable<void> {
    tcp::socket s(io);
    co_await s.async_connect(acceptor.local_endpoint(), kTuple);
    std::string req =
        "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nFRAME-BYTES";
    co_await asio::async_write(s, asio::buffer(req), kTuple);
    while (results.empty()) co_await sleep_for(5ms);
  });
  ASSERT_EQ(results.size(), 1u);
  const auto& r = results[0];
  EXPECT_EQ(r.end, H1ServeResult::End::kUpgrade);
  ASSERT_TRUE(r.upgrade);
  EXPECT_EQ(r.upgrade->kind, H1Upgrade::Kind::kUpgrade);
  EXPECT_EQ(r.upgrade->protocol, "websocket");
  EXPECT_EQ(r.upgrade->head.path, "/chat");
  EXPECT_EQ(r.upgrade->head.authority, "a");
  EXPECT_EQ(r.upgrade->leftover, "FRAME-BYTES");
  EXPECT_EQ(r.upgrade->head_bytes.rfind("GET /chat HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(r.upgrade->head_bytes.find("Connection: upgrade\r\nUpgrade: websocket\r\n"),
            std::string::npos)
      << r.upgrade->head_bytes;
  EXPECT_NE(r.upgrade->head_bytes.find("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="),
            std::string::npos);
  EXPECT_TRUE(app.heads.empty());  // not served
}

TEST_F(H1ServerTest, ConnectIsHandedBack) {
  run_coro(io, [&]() -> asio::awaitable<void> {
    tcp::socket s(io);
    co_await s.async_connect(acceptor.local_endpoint(), kTuple);
    std::string req = "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n";
    co_await asio::async_write(s, asio::buffer(req), kTuple);
    while (results.empty()) co_await sleep_for(5ms);
  });
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].upgrade);
  EXPECT_EQ(results[0].upgrade->kind, H1Upgrade::Kind::kConnect);
  EXPECT_EQ(results[0].upgrade->head.authority, "db.internal:5432");
  EXPECT_EQ(results[0].upgrade->leftover, "");
}

// ---- wrk

TEST_F(H1ServerTest, WrkLoadWithoutErrors) {
  if (std::system("command -v wrk >/dev/null 2>&1") != 0) GTEST_SKIP() << "wrk not installed";
  auto c = run_command("wrk -t1 -c10 -d2s " + url("/hello"));
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(c.out.find("Socket errors"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("Non-2xx"), std::string::npos) << c.out;
  // "  12345 requests in 2.00s, ..."
  const auto at = c.out.find(" requests in ");
  ASSERT_NE(at, std::string::npos) << c.out;
  auto start = c.out.find_last_not_of("0123456789", at - 1);
  start = start == std::string::npos ? 0 : start + 1;
  EXPECT_GT(std::stol(c.out.substr(start, at - start)), 100) << c.out;
  EXPECT_LE(accepted, 11);  // keep-alive: one per wrk connection, and wrk's first probe
}

// ---------------------------------------------------------------------------------------------
// H1Client

class H1ClientTest : public H1ServerTest {
 protected:
  // A connected client to the H1Server of the fixture.
  asio::awaitable<std::unique_ptr<H1Client>> connect(H1Limits l = {}) {
    return connect_client(io, acceptor.local_endpoint(), l);
  }
  // A pool whose connections all go to the H1Server of the fixture.
  H1Pool make_pool() {
    const auto endpoint = acceptor.local_endpoint();
    return H1Pool([this, endpoint](const std::string&) { return connect_plain(io, endpoint); },
                  H1Limits{});
  }
  // GET /hello through `pool`, answered with "hello world"; false when the request failed.
  asio::awaitable<bool> get_hello(H1Pool& pool) {
    auto r = co_await pool.send("app", get("/hello"));
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) co_return false;
    EXPECT_EQ((co_await collect(r->body)).data, "hello world");
    co_return true;
  }
  static Request get(std::string path) {
    Request r;
    r.head.method = "GET";
    r.head.authority = "app.local";
    r.head.path = std::move(path);
    r.head.version = HttpVersion::kHttp11;
    return r;
  }
};

TEST_F(H1ClientTest, GetAndReuse) {
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    for (int i = 0; i < 3; ++i) {
      auto r = co_await client->send(get("/hello"));
      EXPECT_TRUE(r) << r.error().to_string();
      if (!r) co_return;
      EXPECT_EQ(r->head.status, 200u);
      EXPECT_EQ(find_field(r->head.fields, "content-length"), "11");
      auto body = co_await collect(r->body);
      EXPECT_EQ(body.data, "hello world");
      EXPECT_EQ(body.error, "");
      EXPECT_TRUE(client->reusable());
    }
  });
  EXPECT_EQ(accepted, 1);
  ASSERT_EQ(app.heads.size(), 3u);
  EXPECT_EQ(app.heads[0].authority, "app.local");
}

asio::awaitable<void> produce_request(Body pipe) {
  for (int i = 0; i < 20; ++i) {
    pipe->push(pattern(10'000, i, Alphabet::kLetters));
    if (!pipe->writable()) co_await pipe->wait_writable();
    if (i % 5 == 0) co_await sleep_for(2ms);
  }
  pipe->finish({{"x-request-trailer", "yes"}});
}

TEST_F(H1ClientTest, ChunkedBodyWithTrailersBothWays) {
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    // Echoed: the request body and its trailers come back as the response's.
    Request req = get("/echo");
    req.head.method = "POST";
    req.head.te_trailers = true;
    req.body = std::make_shared<BodyPipe>(io.get_executor(), 16 * 1024);
    asio::co_spawn(io, produce_request(req.body), asio::detached);
    auto r = co_await client->send(std::move(req));
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) co_return;
    auto body = co_await collect(r->body);
    std::string want;
    for (int i = 0; i < 20; ++i) want += pattern(10'000, i, Alphabet::kLetters);
    EXPECT_TRUE(body.data == want) << body.data.size();
    EXPECT_EQ(body.trailers, (HeaderList{{"x-request-trailer", "yes"}}));
    // And a collecting handler saw the trailers too.
    Request req2 = get("/collect");
    req2.head.method = "POST";
    req2.body = std::make_shared<BodyPipe>(io.get_executor());
    asio::co_spawn(io, produce_request(req2.body), asio::detached);
    EXPECT_TRUE(client->reusable());
    auto r2 = co_await client->send(std::move(req2));
    EXPECT_TRUE(r2) << r2.error().to_string();
    if (!r2) co_return;
    auto body2 = co_await collect(r2->body);
    EXPECT_EQ(body2.data, "200000  x-request-trailer=yes;");
  });
  EXPECT_EQ(accepted, 1);
}

TEST_F(H1ClientTest, CompleteBodyGoesWithContentLength) {
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    Request req = get("/echo");
    req.head.method = "PUT";
    req.body = complete_body(io.get_executor(), "payload");
    auto r = co_await client->send(std::move(req));
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) co_return;
    EXPECT_EQ(find_field(r->head.fields, "content-length"), "7");
    auto body = co_await collect(r->body);
    EXPECT_EQ(body.data, "payload");
  });
  ASSERT_EQ(app.heads.size(), 1u);
  EXPECT_EQ(find_field(app.heads[0].fields, "content-length"), "7");
}

// A server that reads one request head (and `body_bytes` more) and answers with `reply`, then
// closes if `close_after`. What it read is kept.
struct Scripted {
  explicit Scripted(asio::io_context& c) : io(c) {}
  asio::io_context& io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)};
  std::vector<std::string> requests;
  int accepted = 0;

  asio::awaitable<void> serve(std::vector<std::string> replies, bool close_after,
                              std::size_t body_bytes = 0) {
    auto [ec, s] = co_await acceptor.async_accept(kTuple);
    if (ec) co_return;
    ++accepted;
    auto stream = plain(std::move(s));
    std::string buf;
    for (const auto& reply : replies) {
      std::size_t want = std::string::npos;
      while (true) {
        const auto end = buf.find("\r\n\r\n");
        if (end != std::string::npos && want == std::string::npos) want = end + 4 + body_bytes;
        if (want != std::string::npos && buf.size() >= want) break;
        auto o = co_await h1::read_until(*stream, buf, 64 * 1024, Clock::now() + 10s);
        if (o.n == 0) co_return;
      }
      requests.push_back(buf.substr(0, want));
      buf.erase(0, want);
      if (reply.empty()) {  // no answer: wait until the client gives up
        auto o = co_await h1::read_until(*stream, buf, 64 * 1024, Clock::now() + 10s);
        (void)o;
        co_return;
      }
      co_await stream->write_all(asio::buffer(reply));
    }
    if (close_after) {
      co_await stream->shutdown_write();
      stream->close();
    } else {
      auto o = co_await h1::read_until(*stream, buf, 64 * 1024, Clock::now() + 10s);
      (void)o;
    }
  }

  asio::awaitable<std::unique_ptr<H1Client>> connect(H1Limits l = {}) {
    return connect_client(io, acceptor.local_endpoint(), l);
  }
};

class H1ClientRawTest : public ::testing::Test {
 protected:
  asio::io_context io;
  Scripted server{io};

  // Starts the scripted server (see Scripted::serve).
  void script(std::vector<std::string> replies, bool close_after, std::size_t body_bytes = 0) {
    asio::co_spawn(io, server.serve(std::move(replies), close_after, body_bytes), asio::detached);
  }

  static Request get(std::string path) {
    Request r;
    r.head.method = "GET";
    r.head.authority = "app.local:8080";
    r.head.path = std::move(path);
    r.head.fields = {{"accept", "*/*"}, {"connection", "keep-alive"}};  // hop-by-hop: dropped
    return r;
  }
};

TEST_F(H1ClientRawTest, ContentLengthResponseAndRequestHead) {
  script({"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nfirst",
          "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"},
         false);
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto client = co_await server.connect();
    auto r = co_await client->send(get("/a?b=c"));
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) co_return;
    EXPECT_EQ(find_field(r->head.fields, "x-a"), "1");
    EXPECT_EQ((co_await collect(r->body)).data, "first");
    EXPECT_TRUE(client->reusable());
    auto r2 = co_await client->send(get("/again"));
    EXPECT_TRUE(r2) << r2.error().to_string();
    if (!r2) co_return;
    EXPECT_EQ((co_await collect(r2->body)).data, "second");
  });
  ASSERT_EQ(server.requests.size(), 2u);
  EXPECT_EQ(server.requests[0],
            "GET /a?b=c HTTP/1.1\r\nhost: app.local:8080\r\naccept: */*\r\n\r\n");
  EXPECT_EQ(server.accepted, 1);
}

TEST_F(H1ClientRawTest, ChunkedResponseWithTrailers) {
  script({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\nhello\r\n6\r\n world\r\n0\r\nGrpc-Status: 0\r\n\r\n"},
         false);
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto client = co_await server.connect();
    auto r = co_await client->send(get("/"));
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) co_return;
    auto body = co_await collect(r->body);
    EXPECT_EQ(body.data, "hello world");
    EXPECT_EQ(body.trailers, (HeaderList{{"grpc-status", "0"}}));
    EXPECT_TRUE(client->reusable());
  });
}

TEST_F(H1ClientRawTest, UntilCloseResponse) {
  script({"HTTP/1.1 200 OK\r\n\r\nall of it"}, true);
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto client = co_await server.connect();
    auto r = co_await client->send(get("/"));
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) co_return;
    auto body = co_await collect(r->body);
    EXPECT_EQ(body.data, "all of it");
    EXPECT_EQ(body.error, "");
    EXPECT_FALSE(client->reusable());
    EXPECT_FALSE(client->open());
  });
}

TEST_F(H1ClientRawTest, InterimResponsesSkipped) {
  script({"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
          "Link: </s.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2"
          "\r\n\r\nok"},
         false, 4);
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto client = co_await server.connect();
    Request req = get("/");
    req.head.method = "POST";
    req.head.expect_continue = true;  // answered by the proxy: not sent on
    req.body = complete_body(io.get_executor(), "data");
    auto r = co_await client->send(std::move(req));
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) co_return;
    EXPECT_EQ(r->head.status, 201u);
    EXPECT_EQ((co_await collect(r->body)).data, "ok");
    EXPECT_TRUE(client->reusable());
  });
  ASSERT_EQ(server.requests.size(), 1u);
  EXPECT_EQ(server.requests[0].find("Expect"), std::string::npos);
  EXPECT_NE(server.requests[0].find("Content-Length: 4\r\n\r\ndata"), std::string::npos)
      << server.requests[0];
}

TEST_F(H1ClientRawTest, StreamedRequestIsChunked) {
  script({"HTTP/1.1 204 No Content\r\n\r\n"}, false, 30);
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto client = co_await server.connect();
    Request req = get("/");
    req.head.method = "POST";
    req.head.te_trailers = true;
    req.body = std::make_shared<BodyPipe>(io.get_executor());
    auto pipe = req.body;
    asio::co_spawn(
        io,
        [pipe]() -> asio::awaitable<void> {
          pipe->push("abc");
          co_await sleep_for(10ms);
          pipe->push("defg");
          pipe->finish({{"x-t", "1"}});
        },
        asio::detached);
    auto r = co_await client->send(std::move(req));
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) co_return;
    EXPECT_EQ(r->head.status, 204u);
    EXPECT_FALSE(r->body);
    while (client->busy()) co_await sleep_for(1ms);
    EXPECT_TRUE(client->reusable());
  });
  ASSERT_EQ(server.requests.size(), 1u);
  const auto& q = server.requests[0];
  EXPECT_NE(q.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << q;
  EXPECT_NE(q.find("TE: trailers\r\n"), std::string::npos) << q;
  EXPECT_NE(q.find("\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\nx-t: 1\r\n\r\n"), std::string::npos) << q;
}

TEST_F(H1ClientRawTest, MalformedResponseIsAnError) {
  script({"HTTP/1.1 2x0 Nope\r\n\r\n"}, false);
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto client = co_await server.connect();
    auto r = co_await client->send(get("/"));
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_EQ(r.error().code, "bad_response");
    }
    EXPECT_FALSE(client->open());
  });
}

TEST_F(H1ClientRawTest, ClosedBeforeResponseIsConnectionError) {
  script({}, true);
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto client = co_await server.connect();
    co_await sleep_for(20ms);
    auto r = co_await client->send(get("/"));
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_EQ(r.error().code, "connection_error");
    }
  });
}

TEST_F(H1ClientRawTest, NoResponseTimesOut) {
  script({""}, false);
  run_coro(io, [&]() -> asio::awaitable<void> {
    H1Limits l;
    l.response_timeout = 200ms;
    auto client = co_await server.connect(l);
    const auto start = Clock::now();
    auto r = co_await client->send(get("/"));
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_EQ(r.error().code, "response_timeout");
    }
    EXPECT_GE(Clock::now() - start, 150ms);
  });
}

TEST_F(H1ClientRawTest, TruncatedChunkedResponseAborts) {
  script({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"}, true);
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto client = co_await server.connect();
    auto r = co_await client->send(get("/"));
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) co_return;
    auto body = co_await collect(r->body);
    EXPECT_EQ(body.error, "upstream_closed");
    EXPECT_FALSE(client->open());
  });
}

// ---- H1Pool

TEST_F(H1ClientTest, PoolReusesIdleConnections) {
  H1Pool pool = make_pool();
  run_coro(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 4; ++i) {
      if (!co_await get_hello(pool)) co_return;
      EXPECT_EQ(pool.idle_count("app"), 1u);
    }
    // While a response body is still coming, a second request takes a second connection;
    // both are idle afterwards.
    auto a = co_await pool.send("app", get("/chunked"));
    auto b = co_await pool.send("app", get("/hello"));
    EXPECT_TRUE(a && b);
    if (!a || !b) co_return;
    EXPECT_EQ((co_await collect(a->body)).data, "one two three");
    EXPECT_EQ((co_await collect(b->body)).data, "hello world");
    EXPECT_EQ(pool.idle_count("app"), 2u);
  });
  EXPECT_EQ(accepted, 2);
}

TEST_F(H1ClientTest, PoolRetriesAConnectionTheServerClosed) {
  limits.idle_timeout = 50ms;  // the server closes idle connections quickly
  H1Pool pool = make_pool();
  run_coro(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      if (!co_await get_hello(pool)) co_return;
      co_await sleep_for(200ms);  // the server's idle timeout passes
    }
  });
  EXPECT_EQ(accepted, 2);
}

}  // namespace
}  // namespace strait::proxy::http
