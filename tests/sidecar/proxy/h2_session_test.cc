// HTTP/2 sessions over loopback sockets: our H2Client against our H2Server (GET, a 1 MiB echo
// under flow control, trailers both ways, 50 concurrent streams, server streaming, a body that
// aborts, a client cancelling, graceful drain, timeouts), third-party peers (curl, h2load,
// nghttpd), and abuse from a raw nghttp2 client (rapid reset, oversized headers, a bad preface,
// more streams than advertised).
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sidecar/proxy/http/h2_session.h"
#include "sidecar/proxy/stream.h"
#include "tests/support/coro_test.h"

extern char** environ;

namespace strait::proxy::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using Kind = BodyPipe::Chunk::Kind;
using strait::testing::Coro;
using strait::testing::pattern;
using strait::testing::plain;
using strait::testing::run_all;
using strait::testing::run_until;
using strait::testing::sleep_for;
using strait::testing::socket_pair;

// Generous for ASan (h2load's 2000 requests); a hang fails instead of blocking ctest.
constexpr std::chrono::milliseconds kDeadline = 60s;

struct Refusals {
  std::vector<std::pair<std::string, std::string>> seen;
  RefusalSink sink() {
    return [this](std::string_view r, std::string_view d) { seen.emplace_back(r, d); };
  }
  bool has(std::string_view reason) const {
    for (const auto& [r, d] : seen) {
      if (r == reason) return true;
    }
    return false;
  }
  std::string all() const {
    std::string s;
    for (const auto& [r, d] : seen) s += r + "(" + d + ") ";
    return s;
  }
};

Request get(std::string path) {
  Request r;
  r.head.method = "GET";
  r.head.scheme = "http";
  r.head.authority = "test.local";
  r.head.path = std::move(path);
  return r;
}

Response text(asio::any_io_executor ex, unsigned status, std::string body,
              HeaderList trailers = {}) {
  Response r;
  r.head.status = status;
  r.head.fields.emplace_back("content-type", "text/plain");
  r.body = complete_body(ex, std::move(body), std::move(trailers));
  return r;
}

// Our client against our server over one loopback connection.
struct Rig {
  asio::io_context io;
  H2Limits limits;
  Refusals server_refusals;
  Refusals client_refusals;
  std::unique_ptr<AnyStream> server_stream;
  std::unique_ptr<H2Server> server;
  std::shared_ptr<H2Client> client;
  bool server_done = false;

  asio::any_io_executor ex() { return io.get_executor(); }

  // A body that `produce` writes on a coroutine of its own (`produce` is kept alive until it
  // returns).
  Body produced(std::function<asio::awaitable<void>(Body)> produce,
                std::size_t window = BodyPipe::kDefaultWindow) {
    auto body = std::make_shared<BodyPipe>(ex(), window);
    asio::co_spawn(ex(), run_producer(std::move(produce), body), asio::detached);
    return body;
  }
  static asio::awaitable<void> run_producer(std::function<asio::awaitable<void>(Body)> produce,
                                            Body body) {
    co_await produce(std::move(body));
  }

  void start(Handler handler) {
    auto [c, s] = socket_pair(io);
    server_stream = plain(std::move(s));
    server = std::make_unique<H2Server>(ex(), limits, std::move(handler), server_refusals.sink());
    client = H2Client::start(ex(), plain(std::move(c)), limits, client_refusals.sink());
  }
  // Runs the server and `test`; the client drains after the test, which ends the connection.
  void run(Coro test) {
    run_all(io,
            {
                [this]() -> asio::awaitable<void> {
                  co_await server->run(*server_stream, "");
                  server_done = true;
                },
                [this, test]() -> asio::awaitable<void> {
                  co_await test();
                  client->drain();
                },
            },
            {}, kDeadline);
    EXPECT_TRUE(server_done);
  }
};

// ---------------------------------------------------------------------------------------------
// Our client against our server

TEST(H2Session, GetWithoutBody) {
  Rig rig;
  RequestHead seen;
  bool had_body = true;
  rig.start([&](Request req) -> asio::awaitable<Response> {
    seen = req.head;
    had_body = req.body != nullptr;
    auto r = text(rig.ex(), 200, "hello");
    r.head.fields.emplace_back("x-answer", "42");
    r.head.fields.emplace_back("connection", "close");  // connection-specific: dropped
    co_return r;
  });
  rig.run([&]() -> asio::awaitable<void> {
    auto req = get("/hello?x=1");
    req.head.fields.emplace_back("x-trace", "abc");
    req.head.fields.emplace_back("cookie", "a=1");
    req.head.fields.emplace_back("cookie", "b=2");
    auto res = co_await rig.client->send(std::move(req));
    EXPECT_TRUE(res.ok()) << (res.ok() ? "" : res.error().to_string());
    if (!res.ok()) co_return;
    EXPECT_EQ(res->head.status, 200u);
    EXPECT_EQ(find_field(res->head.fields, "x-answer"), "42");
    EXPECT_FALSE(find_field(res->head.fields, "connection"));
    auto body = co_await collect(res->body);
    EXPECT_EQ(body.error, "");
    EXPECT_EQ(body.data, "hello");
  });
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.scheme, "http");
  EXPECT_EQ(seen.authority, "test.local");
  EXPECT_EQ(seen.path, "/hello?x=1");
  EXPECT_EQ(seen.version, HttpVersion::kHttp2);
  EXPECT_EQ(find_field(seen.fields, "x-trace"), "abc");
  EXPECT_EQ(find_field(seen.fields, "cookie"), "a=1; b=2");
  EXPECT_FALSE(had_body);
}

TEST(H2Session, HandlerExceptionIs502) {
  Rig rig;
  rig.start([&](Request) -> asio::awaitable<Response> {
    throw std::runtime_error("boom");
    co_return Response{};
  });
  rig.run([&]() -> asio::awaitable<void> {
    auto res = co_await rig.client->send(get("/"));
    EXPECT_TRUE(res.ok());
    if (!res.ok()) co_return;
    EXPECT_EQ(res->head.status, 502u);
    EXPECT_EQ(find_field(res->head.fields, kProxyErrorField), "handler_error");
    co_await collect(res->body);
  });
  EXPECT_TRUE(rig.server_refusals.has("handler_error"));
}

// A 1 MiB POST echoed back while the client reads the echo slowly: every pipe stays within
// its window (plus one frame), so the peer never sent more than flow control allowed.
TEST(H2Session, EchoMegabyteUnderFlowControl) {
  Rig rig;
  const std::string payload = pattern(1 << 20, 7);
  std::size_t max_request_buffered = 0;
  std::size_t max_response_buffered = 0;
  const std::size_t bound = rig.limits.initial_stream_window + 16384;
  rig.start([&](Request req) -> asio::awaitable<Response> {
    Response r;
    r.head.status = 200;
    r.body = rig.produced(
        [&, in = req.body](Body out) -> asio::awaitable<void> {
          while (true) {
            max_request_buffered = std::max(max_request_buffered, in->buffered());
            auto c = co_await in->read(16384);
            if (c.kind == Kind::kError) {
              out->abort(c.error);
              co_return;
            }
            if (c.kind == Kind::kEnd) {
              out->finish(std::move(c.trailers));
              co_return;
            }
            out->push(std::move(c.data));
            if (!co_await out->wait_writable()) {
              in->cancel("echo cancelled");
              co_return;
            }
          }
        },
        64 * 1024);
    co_return r;
  });
  rig.run([&]() -> asio::awaitable<void> {
    Request req;
    req.head.method = "POST";
    req.head.scheme = "http";
    req.head.authority = "test.local";
    req.head.path = "/echo";
    req.body = rig.produced([&](Body body) -> asio::awaitable<void> {
      for (std::size_t off = 0; off < payload.size(); off += 10000) {
        body->push(payload.substr(off, 10000));
        if (!co_await body->wait_writable()) co_return;
      }
      body->finish();
    });
    auto res = co_await rig.client->send(std::move(req));
    EXPECT_TRUE(res.ok());
    if (!res.ok()) co_return;
    EXPECT_EQ(res->head.status, 200u);
    std::string got;
    int reads = 0;
    while (true) {
      max_response_buffered = std::max(max_response_buffered, res->body->buffered());
      auto c = co_await res->body->read(8192);
      if (c.kind != Kind::kData) {
        EXPECT_EQ(c.kind, Kind::kEnd) << c.error;
        break;
      }
      got += c.data;
      if (++reads % 8 == 0) co_await sleep_for(2ms);  // a slow consumer
    }
    EXPECT_EQ(got.size(), payload.size());
    EXPECT_TRUE(got == payload);
  });
  EXPECT_GT(max_request_buffered, 0u);
  EXPECT_LE(max_request_buffered, bound);
  EXPECT_LE(max_response_buffered, bound);
}

// Handlers that give up on request bodies (cancel after one read) must not leak the
// connection window: with room for only two streams' windows, ten such uploads in a row work.
TEST(H2Session, CancelledRequestBodiesReturnConnectionWindow) {
  Rig rig;
  rig.limits.connection_window = 128 * 1024;
  rig.start([&](Request req) -> asio::awaitable<Response> {
    if (req.body) {
      co_await req.body->read(1000);
      co_await sleep_for(5ms);  // let more DATA arrive and be buffered
      req.body->cancel("not needed");
    }
    co_return text(rig.ex(), 413, "too big");
  });
  rig.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 10; ++i) {
      Request req = get("/upload");
      req.head.method = "POST";
      req.body = rig.produced([](Body body) -> asio::awaitable<void> {
        for (int k = 0; k < 20; ++k) {
          body->push(std::string(10000, 'u'));
          if (!co_await body->wait_writable()) co_return;
        }
        body->finish();
      });
      auto res = co_await rig.client->send(std::move(req));
      EXPECT_TRUE(res.ok()) << i << ": " << (res.ok() ? "" : res.error().to_string());
      if (!res.ok()) co_return;
      EXPECT_EQ(res->head.status, 413u);
      EXPECT_EQ((co_await collect(res->body)).data, "too big");
    }
  });
}

// gRPC's shape: te: trailers, a request body with trailers, response trailers with the status.
TEST(H2Session, TrailersBothWays) {
  Rig rig;
  bool te = false;
  CollectedBody request_body;
  rig.start([&](Request req) -> asio::awaitable<Response> {
    te = req.head.te_trailers;
    EXPECT_FALSE(find_field(req.head.fields, "te"));
    request_body = co_await collect(req.body);
    Response r;
    r.head.status = 200;
    r.head.fields.emplace_back("content-type", "application/grpc");
    r.body = complete_body(rig.ex(), std::string("\0\0\0\0\x02hi", 7),
                           {{"grpc-status", "0"}, {"grpc-message", "fine"}});
    co_return r;
  });
  rig.run([&]() -> asio::awaitable<void> {
    Request req;
    req.head.method = "POST";
    req.head.scheme = "http";
    req.head.authority = "grpc.local";
    req.head.path = "/pkg.Svc/Call";
    req.head.te_trailers = true;
    req.head.fields.emplace_back("content-type", "application/grpc");
    req.body = complete_body(rig.ex(), "request", {{"x-checksum", "abc"}});
    auto res = co_await rig.client->send(std::move(req));
    EXPECT_TRUE(res.ok());
    if (!res.ok()) co_return;
    auto body = co_await collect(res->body);
    EXPECT_EQ(body.error, "");
    EXPECT_EQ(body.data.size(), 7u);
    EXPECT_EQ(find_field(body.trailers, "grpc-status"), "0");
    EXPECT_EQ(find_field(body.trailers, "grpc-message"), "fine");
  });
  EXPECT_TRUE(te);
  EXPECT_EQ(request_body.data, "request");
  EXPECT_EQ(find_field(request_body.trailers, "x-checksum"), "abc");
}

TEST(H2Session, FiftyConcurrentStreams) {
  Rig rig;
  int running = 0, max_running = 0;
  rig.start([&](Request req) -> asio::awaitable<Response> {
    max_running = std::max(max_running, ++running);
    co_await sleep_for(30ms);
    --running;
    co_return text(rig.ex(), 200, req.head.path);
  });
  int ok = 0;
  rig.run([&]() -> asio::awaitable<void> {
    int finished = 0;
    for (int i = 0; i < 50; ++i) {
      asio::co_spawn(
          rig.ex(),
          [&, i]() -> asio::awaitable<void> {
            auto res = co_await rig.client->send(get("/n/" + std::to_string(i)));
            if (res.ok()) {
              auto body = co_await collect(res->body);
              if (body.data == "/n/" + std::to_string(i)) ++ok;
            }
            ++finished;
          },
          asio::detached);
    }
    while (finished < 50) co_await sleep_for(5ms);
  });
  EXPECT_EQ(ok, 50);
  EXPECT_GE(max_running, 25) << "the requests did not run concurrently";
}

TEST(H2Session, ServerStreaming) {
  Rig rig;
  rig.start([&](Request) -> asio::awaitable<Response> {
    Response r;
    r.body = rig.produced([](Body out) -> asio::awaitable<void> {
      for (int i = 0; i < 5; ++i) {
        out->push("chunk" + std::to_string(i) + ";");
        co_await sleep_for(30ms);
      }
      out->finish({{"x-done", "yes"}});
    });
    co_return r;
  });
  rig.run([&]() -> asio::awaitable<void> {
    auto res = co_await rig.client->send(get("/stream"));
    EXPECT_TRUE(res.ok());
    if (!res.ok()) co_return;
    std::vector<std::string> chunks;
    while (true) {
      auto c = co_await res->body->read();
      if (c.kind == Kind::kEnd) {
        EXPECT_EQ(find_field(c.trailers, "x-done"), "yes");
        break;
      }
      EXPECT_EQ(c.kind, Kind::kData) << c.error;
      if (c.kind != Kind::kData) break;
      chunks.push_back(c.data);
    }
    EXPECT_GE(chunks.size(), 4u) << "chunks were not streamed as they came";
    std::string all;
    for (auto& c : chunks) all += c;
    EXPECT_EQ(all, "chunk0;chunk1;chunk2;chunk3;chunk4;");
  });
}

TEST(H2Session, ResponseBodyAbortReachesClient) {
  Rig rig;
  rig.start([&](Request) -> asio::awaitable<Response> {
    Response r;
    r.body = rig.produced([](Body out) -> asio::awaitable<void> {
      out->push("partial");
      co_await sleep_for(30ms);
      out->abort("upstream_reset");
    });
    co_return r;
  });
  rig.run([&]() -> asio::awaitable<void> {
    auto res = co_await rig.client->send(get("/abort"));
    EXPECT_TRUE(res.ok());
    if (!res.ok()) co_return;
    auto body = co_await collect(res->body);
    EXPECT_EQ(body.error, "reset");
    EXPECT_TRUE(rig.client->usable()) << "a stream reset must not end the connection";
    auto again = co_await rig.client->send(get("/again"));
    EXPECT_TRUE(again.ok());
  });
}

TEST(H2Session, ClientCancelReachesServerPipe) {
  Rig rig;
  std::string server_saw;
  rig.start([&](Request req) -> asio::awaitable<Response> {
    if (req.head.path != "/forever") co_return text(rig.ex(), 200, "ok");
    Response r;
    r.body = rig.produced([&](Body out) -> asio::awaitable<void> {
      for (int i = 0; i < 2000 && !out->cancelled(); ++i) {
        out->push(std::string(1000, 'x'));
        if (!co_await out->wait_writable()) break;
        co_await sleep_for(2ms);
      }
      server_saw = out->cancelled() ? out->cancel_reason() : "not cancelled";
    });
    co_return r;
  });
  rig.run([&]() -> asio::awaitable<void> {
    auto res = co_await rig.client->send(get("/forever"));
    EXPECT_TRUE(res.ok());
    if (!res.ok()) co_return;
    auto c = co_await res->body->read();
    EXPECT_EQ(c.kind, Kind::kData);
    res->body->cancel("client gone");
    for (int i = 0; i < 200 && server_saw.empty(); ++i) co_await sleep_for(5ms);
    auto again = co_await rig.client->send(get("/ok"));
    EXPECT_TRUE(again.ok());
  });
  EXPECT_EQ(server_saw, "reset");
}

// The request body fails on the client side: the stream is reset, the handler's request body
// ends with "reset", and send() fails with stream_reset.
TEST(H2Session, RequestBodyAbortResetsStream) {
  Rig rig;
  std::string handler_saw;
  bool handler_done = false;
  rig.start([&](Request req) -> asio::awaitable<Response> {
    auto body = co_await collect(req.body);
    handler_saw = body.error;
    handler_done = true;
    co_return text(rig.ex(), 200, "unseen");
  });
  rig.run([&]() -> asio::awaitable<void> {
    Request req = get("/upload");
    req.head.method = "POST";
    req.body = rig.produced([](Body body) -> asio::awaitable<void> {
      body->push("first part");
      co_await sleep_for(30ms);
      body->abort("client_failed");
    });
    auto res = co_await rig.client->send(std::move(req));
    EXPECT_FALSE(res.ok());
    if (!res.ok()) {
      EXPECT_EQ(res.error().code, "stream_reset") << res.error().to_string();
    }
    for (int i = 0; i < 100 && !handler_done; ++i) co_await sleep_for(5ms);
    EXPECT_TRUE(rig.client->usable());
  });
  EXPECT_EQ(handler_saw, "reset");
}

TEST(H2Session, ServerDrainFinishesInFlight) {
  Rig rig;
  rig.start([&](Request) -> asio::awaitable<Response> {
    co_await sleep_for(200ms);
    co_return text(rig.ex(), 200, "slow");
  });
  rig.run([&]() -> asio::awaitable<void> {
    std::optional<Result<Response>> slow;
    std::string slow_body;
    asio::co_spawn(
        rig.ex(),
        [&]() -> asio::awaitable<void> {
          auto r = co_await rig.client->send(get("/slow"));
          if (r.ok()) slow_body = (co_await collect(r->body)).data;
          slow.emplace(std::move(r));
        },
        asio::detached);
    co_await sleep_for(50ms);
    EXPECT_EQ(rig.server->active_streams(), 1u);
    rig.server->drain();
    for (int i = 0; i < 100 && rig.client->usable(); ++i) co_await sleep_for(5ms);
    EXPECT_FALSE(rig.client->usable());
    auto late = co_await rig.client->send(get("/late"));
    EXPECT_FALSE(late.ok());
    if (!late.ok()) {
      EXPECT_TRUE(late.error().code == "goaway_retryable" ||
                  late.error().code == "connection_error")
          << late.error().to_string();
    }
    while (!slow) co_await sleep_for(5ms);
    EXPECT_TRUE(slow->ok()) << (slow->ok() ? "" : slow->error().to_string());
    EXPECT_EQ(slow_body, "slow");
  });
}

TEST(H2Session, IdleTimeoutClosesConnection) {
  Rig rig;
  rig.limits.idle_timeout = 150ms;
  rig.start([&](Request) -> asio::awaitable<Response> { co_return text(rig.ex(), 200, "x"); });
  rig.run([&]() -> asio::awaitable<void> {
    auto res = co_await rig.client->send(get("/"));
    EXPECT_TRUE(res.ok());
    if (res.ok()) co_await collect(res->body);
    for (int i = 0; i < 200 && rig.client->usable(); ++i) co_await sleep_for(10ms);
    EXPECT_FALSE(rig.client->usable());
  });
}

TEST(H2Session, ServerHeaderListLimitAnswers431) {
  Rig rig;
  rig.start([&](Request req) -> asio::awaitable<Response> {
    co_return text(rig.ex(), 200, req.head.path);
  });
  rig.run([&]() -> asio::awaitable<void> {
    auto big = get("/big");
    big.head.fields.emplace_back("x-big", std::string(20000, 'a'));
    auto res = co_await rig.client->send(std::move(big));
    EXPECT_TRUE(res.ok());
    if (res.ok()) {
      EXPECT_EQ(res->head.status, 431u);
      co_await collect(res->body);
    }
    auto small = co_await rig.client->send(get("/small"));
    EXPECT_TRUE(small.ok());
    if (small.ok()) {
      EXPECT_EQ(small->head.status, 200u);
      EXPECT_EQ((co_await collect(small->body)).data, "/small");
    }
  });
  EXPECT_TRUE(rig.server_refusals.has("headers_too_large")) << rig.server_refusals.all();
}

// ---------------------------------------------------------------------------------------------
// Third-party peers

// Accepts connections on 127.0.0.1:<port> and serves each with H2Server.
struct Listener {
  asio::io_context& io;
  tcp::acceptor acceptor;
  Refusals refusals;
  Handler handler;
  H2Limits limits;
  int connections = 0;

  Listener(asio::io_context& io_, Handler h)
      : io(io_),
        acceptor(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
        handler(std::move(h)) {}
  unsigned short port() const { return acceptor.local_endpoint().port(); }
  void start() {
    asio::co_spawn(
        io,
        [this]() -> asio::awaitable<void> {
          while (true) {
            auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            ++connections;
            asio::co_spawn(
                io,
                [this, s = plain(std::move(sock))]() mutable -> asio::awaitable<void> {
                  co_await H2Server::serve(*s, "", limits, handler, refusals.sink());
                },
                asio::detached);
          }
        },
        asio::detached);
  }
};

bool have(const char* tool) {
  std::string cmd = std::string("command -v ") + tool + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Runs a shell command in a thread while the io_context serves; returns its output.
std::string run_command(asio::io_context& io, const std::string& cmd) {
  std::string out;
  std::atomic<bool> done{false};
  std::thread t([&] {
    if (FILE* f = popen((cmd + " 2>&1").c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
      pclose(f);
    }
    done = true;
  });
  const auto finished = [&] { return done.load(); };
  run_until(io, finished, kDeadline);
  t.join();
  return out;
}

TEST(H2ThirdParty, CurlPriorKnowledge) {
  if (!have("curl")) GTEST_SKIP() << "curl is not installed";
  asio::io_context io;
  Listener l(io, [&](Request req) -> asio::awaitable<Response> {
    co_return text(io.get_executor(), 200, "hello curl " + req.head.path);
  });
  l.start();
  const std::string out =
      run_command(io,
                  "timeout 20 curl --http2-prior-knowledge -sS --max-time 15 -w '\\n%{http_code} "
                  "%{http_version}' http://127.0.0.1:" +
                      std::to_string(l.port()) + "/path");
  EXPECT_NE(out.find("hello curl /path"), std::string::npos) << out;
  EXPECT_NE(out.find("200 2"), std::string::npos) << out;
  EXPECT_FALSE(l.refusals.has("h2_protocol_error")) << l.refusals.all();
}

TEST(H2ThirdParty, H2loadTwoThousandRequests) {
  if (!have("h2load")) GTEST_SKIP() << "h2load is not installed (Debian package nghttp2-client)";
  asio::io_context io;
  Listener l(io, [&](Request req) -> asio::awaitable<Response> {
    if (req.body) co_await collect(req.body);
    co_return text(io.get_executor(), 200, "ok");
  });
  l.start();
  const std::string out = run_command(io, "timeout 60 h2load -n 2000 -c 4 -m 10 http://127.0.0.1:" +
                                              std::to_string(l.port()) + "/");
  EXPECT_NE(out.find("2000 succeeded, 0 failed, 0 errored"), std::string::npos) << out;
  EXPECT_EQ(l.connections, 4);
  EXPECT_FALSE(l.refusals.has("h2_protocol_error")) << l.refusals.all();
}

// Our client against nghttpd (nghttp2's own server), plain h2c.
TEST(H2ThirdParty, ClientAgainstNghttpd) {
  if (!have("nghttpd")) GTEST_SKIP() << "nghttpd is not installed (Debian package nghttp2-server)";
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("h2_nghttpd_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string big = pattern(300'000, 3);
  std::ofstream(dir / "index.html") << "hello from nghttpd";
  std::ofstream(dir / "big.bin", std::ios::binary) << big;
  unsigned short port = 0;
  {
    asio::io_context probe;
    tcp::acceptor a(probe, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    port = a.local_endpoint().port();
  }
  const std::string port_s = std::to_string(port), dir_s = dir.string();
  std::vector<char*> argv = {const_cast<char*>("nghttpd"),      const_cast<char*>("--no-tls"),
                             const_cast<char*>("-d"),           const_cast<char*>(dir_s.c_str()),
                             const_cast<char*>("-a"),           const_cast<char*>("127.0.0.1"),
                             const_cast<char*>(port_s.c_str()), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawnp(&pid, "nghttpd", nullptr, nullptr, argv.data(), environ), 0);

  asio::io_context io;
  std::shared_ptr<H2Client> client;
  run_all(io, {[&]() -> asio::awaitable<void> {
            tcp::socket s(io);
            for (int i = 0; i < 100; ++i) {
              auto [ec] = co_await s.async_connect({asio::ip::address_v4::loopback(), port},
                                                   asio::as_tuple(asio::use_awaitable));
              if (!ec) break;
              s.close();
              s = tcp::socket(io);
              co_await sleep_for(30ms);
            }
            EXPECT_TRUE(s.is_open());
            if (!s.is_open()) co_return;
            Refusals refusals;
            client = H2Client::start(io.get_executor(), plain(std::move(s)), {}, refusals.sink());
            auto req = get("/index.html");
            req.head.authority = "127.0.0.1:" + port_s;
            auto res = co_await client->send(std::move(req));
            EXPECT_TRUE(res.ok()) << (res.ok() ? "" : res.error().to_string());
            if (!res.ok()) co_return;
            EXPECT_EQ(res->head.status, 200u);
            EXPECT_EQ((co_await collect(res->body)).data, "hello from nghttpd");
            auto req2 = get("/big.bin");
            req2.head.authority = "127.0.0.1:" + port_s;
            auto res2 = co_await client->send(std::move(req2));
            EXPECT_TRUE(res2.ok()) << (res2.ok() ? "" : res2.error().to_string());
            if (res2.ok()) {
              EXPECT_TRUE((co_await collect(res2->body)).data == big);
            }
            auto res3 = co_await client->send(get("/missing"));
            EXPECT_TRUE(res3.ok());
            if (res3.ok()) {
              EXPECT_EQ(res3->head.status, 404u);
            }
            client->drain();
            EXPECT_TRUE(refusals.seen.empty()) << refusals.all();
          }},
          {}, kDeadline);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Abuse, from a raw nghttp2 client that does what it is told

struct RawClient {
  nghttp2_session* ng = nullptr;
  std::map<std::int32_t, unsigned> status;
  std::map<std::int32_t, std::uint32_t> closed;  // stream -> error code
  std::optional<std::uint32_t> goaway_code;

  explicit RawClient(std::uint32_t peer_max_streams = 100) {
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs,
        [](nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n, std::size_t nl,
           const std::uint8_t* v, std::size_t vl, std::uint8_t, void* u) -> int {
          if (std::string_view(reinterpret_cast<const char*>(n), nl) == ":status") {
            static_cast<RawClient*>(u)->status[f->hd.stream_id] =
                std::stoul(std::string(reinterpret_cast<const char*>(v), vl));
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, void* u) -> int {
          if (f->hd.type == NGHTTP2_GOAWAY) {
            static_cast<RawClient*>(u)->goaway_code = f->goaway.error_code;
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, std::int32_t id, std::uint32_t code, void* u) -> int {
          static_cast<RawClient*>(u)->closed[id] = code;
          return 0;
        });
    nghttp2_option* opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_peer_max_concurrent_streams(opt, peer_max_streams);
    nghttp2_session_client_new2(&ng, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~RawClient() { nghttp2_session_del(ng); }

  std::int32_t request(std::string path, std::string big_header = {}) {
    std::vector<std::pair<std::string, std::string>> h = {
        {":method", "GET"}, {":scheme", "http"}, {":authority", "raw"}, {":path", path}};
    if (!big_header.empty()) h.emplace_back("x-big", big_header);
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : h) {
      nv.push_back({reinterpret_cast<std::uint8_t*>(n.data()),
                    reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    }
    return nghttp2_submit_request(ng, nullptr, nv.data(), nv.size(), nullptr, nullptr);
  }
  std::string out() {
    std::string s;
    const std::uint8_t* p;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(ng, &p)) > 0)
      s.append(reinterpret_cast<const char*>(p), n);
    return s;
  }
  void in(const char* p, std::size_t n) {
    nghttp2_session_mem_recv(ng, reinterpret_cast<const std::uint8_t*>(p), n);
  }
};

// Reads from `s` into the raw client until the connection ends.
asio::awaitable<void> raw_reader(tcp::socket& s, RawClient& raw, bool& eof) {
  std::vector<char> buf(16384);
  while (true) {
    auto [ec, n] =
        co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (n > 0) raw.in(buf.data(), n);
    if (ec) break;
  }
  eof = true;
}

// Our server on one end of a loopback connection; the test drives the other end, `c`.
class H2Abuse : public ::testing::Test {
 protected:
  H2Abuse() {
    auto [client, server] = socket_pair(io);
    c = std::move(client);
    server_stream = plain(std::move(server));
  }

  // The server's side: serves the connection with `limits` and `handler`, then sets
  // server_done.
  asio::awaitable<void> serve(Handler handler) {
    co_await H2Server::serve(*server_stream, "", limits, std::move(handler), refusals.sink());
    server_done = true;
  }
  // A handler that answers every request with 200 and `body`, after `delay`.
  Handler answer(std::string body, std::chrono::milliseconds delay = 0ms) {
    return [this, body, delay](Request) { return answer_after(delay, body); };
  }
  asio::awaitable<Response> answer_after(std::chrono::milliseconds delay, std::string body) {
    if (delay > 0ms) co_await sleep_for(delay);
    co_return text(io.get_executor(), 200, std::move(body));
  }
  void run(std::vector<Coro> coros) { run_all(io, std::move(coros), {}, kDeadline); }

  asio::io_context io;
  tcp::socket c{io};
  std::unique_ptr<AnyStream> server_stream;
  H2Limits limits;
  Refusals refusals;
  bool server_done = false;
};

TEST_F(H2Abuse, RapidResetGetsEnhanceYourCalm) {
  limits.max_resets_per_window = 50;
  RawClient raw;
  bool eof = false;
  int sent = 0;
  run({
      [&] { return serve(answer("late", 50ms)); },
      [&] { return raw_reader(c, raw, eof); },
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 2000 && !eof && !raw.goaway_code; ++i) {
          if (i % 10 == 0) co_await asio::post(io, asio::use_awaitable);
          std::int32_t id = raw.request("/r");
          std::string bytes = raw.out();  // HEADERS
          nghttp2_submit_rst_stream(raw.ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
          bytes += raw.out();  // RST_STREAM
          auto [ec, n] = co_await asio::async_write(c, asio::buffer(bytes),
                                                    asio::as_tuple(asio::use_awaitable));
          if (ec) break;
          ++sent;
        }
      },
  });
  EXPECT_TRUE(server_done);
  ASSERT_TRUE(raw.goaway_code.has_value()) << "sent " << sent;
  EXPECT_EQ(*raw.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_TRUE(refusals.has("too_many_resets")) << refusals.all();
  EXPECT_LT(sent, 2000);
}

TEST_F(H2Abuse, GarbagePrefaceIsRefused) {
  std::string got;
  run({
      [&] { return serve(answer("no")); },
      [&]() -> asio::awaitable<void> {
        const std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\x01\x02\x03";
        co_await asio::async_write(c, asio::buffer(garbage), asio::as_tuple(asio::use_awaitable));
        std::vector<char> buf(4096);
        while (true) {
          auto [ec, n] =
              co_await c.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
          got.append(buf.data(), n);
          if (ec) break;
        }
      },
  });
  EXPECT_TRUE(server_done);
  EXPECT_TRUE(refusals.has("h2_protocol_error")) << refusals.all();
  // The last frame is a GOAWAY (type 7) with PROTOCOL_ERROR.
  ASSERT_GE(got.size(), 17u);
  const std::string tail = got.substr(got.size() - 17);
  EXPECT_EQ(tail[3], '\x07');
  EXPECT_EQ(tail[16], '\x01');
}

TEST_F(H2Abuse, HandshakeTimeout) {
  limits.handshake_timeout = 150ms;
  const auto start = std::chrono::steady_clock::now();
  run({[&] { return serve(answer("no")); }});
  EXPECT_TRUE(server_done);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(refusals.has("handshake_timeout")) << refusals.all();
}

// The client opens 10 streams at once against an advertised limit of 5 (before it even read
// the server's SETTINGS): 5 are served, 5 refused with REFUSED_STREAM, the connection lives.
TEST_F(H2Abuse, StreamsOverTheLimitAreRefused) {
  limits.max_concurrent_streams = 5;
  RawClient raw(/*peer_max_streams=*/1000);
  bool eof = false;
  run({
      [&] { return serve(answer("ok", 100ms)); },
      [&] { return raw_reader(c, raw, eof); },
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 10; ++i) raw.request("/s" + std::to_string(i));
        std::string bytes = raw.out();
        co_await asio::async_write(c, asio::buffer(bytes), asio::as_tuple(asio::use_awaitable));
        for (int i = 0; i < 400 && raw.closed.size() < 10 && !eof; ++i) {
          std::string more = raw.out();  // SETTINGS ACK, WINDOW_UPDATE
          if (!more.empty()) {
            co_await asio::async_write(c, asio::buffer(more), asio::as_tuple(asio::use_awaitable));
          }
          co_await sleep_for(5ms);
        }
        EXPECT_FALSE(raw.goaway_code.has_value());
        nghttp2_submit_goaway(raw.ng, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
        std::string bye = raw.out();
        co_await asio::async_write(c, asio::buffer(bye), asio::as_tuple(asio::use_awaitable));
      },
  });
  EXPECT_TRUE(server_done);
  int ok = 0, refused = 0;
  for (auto [id, code] : raw.closed) {
    if (code == NGHTTP2_REFUSED_STREAM) ++refused;
    if (code == NGHTTP2_NO_ERROR && raw.status[id] == 200) ++ok;
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(refused, 5);
  EXPECT_TRUE(refusals.has("too_many_streams")) << refusals.all();
}

}  // namespace
}  // namespace strait::proxy::http
