// In-process tests for AdminServer: a real server on port 0, driven over real sockets.
#include "core/admin/admin_server.h"

#include <gtest/gtest.h>
#include <ifaddrs.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "tests/core/admin/test_client.h"

namespace strait::admin {
namespace {

using namespace std::chrono_literals;
using testing::body_of;
using testing::Conn;
using testing::eventually;
using testing::get;
using testing::status_of;
namespace http = boost::beast::http;

class AdminServerTest : public ::testing::Test {
 protected:
  void start(AdminOptions o = {}) {
    server_ = std::make_unique<AdminServer>(ioc_, registry_, o);
    auto r = server_->start();
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_NE(server_->port(), 0);
    for (int i = 0; i < 2; ++i) {  // two threads: sessions must be safe on a multi-threaded context
      runners_.emplace_back([this] {
        ioc_.run();
        finished_.fetch_add(1);
      });
    }
  }

  // Structured shutdown: after stop(), the io_context runs out of work by itself.
  void TearDown() override {
    if (server_) server_->stop();
    if (!runners_.empty()) {
      bool drained = eventually([&] { return finished_.load() == 2; }, 5s);
      EXPECT_TRUE(drained) << "io_context still has work after stop()";
      if (!drained) ioc_.stop();
      for (auto& t : runners_) t.join();
    }
  }

  std::uint64_t refused(const std::string& reason) {
    return registry_.counter("admin_requests_refused_total", "", {"reason"}).with({reason}).value();
  }

  std::string fetch(std::string_view request) {
    Conn c(server_->port());
    EXPECT_TRUE(c.ok());
    EXPECT_TRUE(c.send(request));
    return c.read_response();
  }

  boost::asio::io_context ioc_;
  metrics::Registry registry_;
  std::unique_ptr<AdminServer> server_;
  std::vector<std::thread> runners_;
  std::atomic<int> finished_{0};
};

TEST_F(AdminServerTest, LiveAndKeepAlive) {
  start();
  Conn c(server_->port());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 3; ++i) {  // several requests on one connection
    ASSERT_TRUE(c.send(get("/live")));
    std::string r = c.read_response();
    EXPECT_EQ(status_of(r), 200) << r;
    EXPECT_EQ(body_of(r), "live\n");
  }
}

TEST_F(AdminServerTest, ReadyFollowsThePredicate) {
  start();
  std::string r = fetch(get("/ready"));
  EXPECT_EQ(status_of(r), 503) << r;
  EXPECT_EQ(body_of(r), "not ready: starting\n");

  std::atomic<bool> ready{false};
  server_->set_readiness([&]() -> Result<void> {
    if (!ready.load()) return make_error("no_identity", "waiting for an identity certificate");
    return {};
  });
  r = fetch(get("/ready"));
  EXPECT_EQ(status_of(r), 503);
  EXPECT_EQ(body_of(r), "not ready: waiting for an identity certificate\n");

  ready = true;
  r = fetch(get("/ready"));
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_EQ(body_of(r), "ready\n");

  ready = false;
  EXPECT_EQ(status_of(fetch(get("/ready"))), 503);
}

TEST_F(AdminServerTest, MetricsExposition) {
  start();
  registry_.counter("test_things_total", "Things.").with({}).inc(5);
  std::string r = fetch(get("/metrics"));
  EXPECT_EQ(status_of(r), 200);
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos)
      << r;
  EXPECT_NE(r.find("\r\n\r\n# HELP admin_requests_refused_total"), std::string::npos) << r;
  EXPECT_NE(r.find("admin_requests_refused_total{reason=\"header_too_large\"} 0\n"),
            std::string::npos);
  EXPECT_NE(r.find("test_things_total 5\n"), std::string::npos);
}

TEST_F(AdminServerTest, UnknownPathAndWrongMethod) {
  start();
  std::string r = fetch(get("/nope"));
  EXPECT_EQ(status_of(r), 404) << r;
  r = fetch(get("/live?verbose=1"));  // the query is not part of the path
  EXPECT_EQ(status_of(r), 200) << r;
  r = fetch("POST /live HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(status_of(r), 405) << r;
  EXPECT_NE(r.find("Allow: GET\r\n"), std::string::npos) << r;
}

TEST_F(AdminServerTest, CustomHandlerSeesRequest) {
  start();
  server_->add_handler(http::verb::post, "/echo", [](const Request& req) {
    return Response{201, req.query + "|" + req.body, "text/plain", {{"X-Peer-Loopback", "yes"}}};
  });
  std::string r = fetch("POST /echo?x=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(status_of(r), 201) << r;
  EXPECT_EQ(body_of(r), "x=1|hello");
  EXPECT_NE(r.find("X-Peer-Loopback: yes\r\n"), std::string::npos);
}

TEST_F(AdminServerTest, HandlerExceptionIs500) {
  start();
  server_->add_handler(http::verb::get, "/boom",
                       [](const Request&) -> Response { throw std::runtime_error("x"); });
  EXPECT_EQ(status_of(fetch(get("/boom"))), 500);
  EXPECT_EQ(status_of(fetch(get("/live"))), 200);
}

TEST_F(AdminServerTest, OversizedHeaderRefusedAndClosed) {
  start();
  Conn c(server_->port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get("/live", "X-Big: " + std::string(9000, 'a') + "\r\n")));
  std::string r = c.read_response();
  EXPECT_EQ(status_of(r), 431) << r;
  EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos) << r;
  EXPECT_TRUE(c.closed_within(5s));
  EXPECT_EQ(refused("header_too_large"), 1u);
  // A header just under the limit is fine.
  EXPECT_EQ(status_of(fetch(get("/live", "X-Big: " + std::string(7000, 'a') + "\r\n"))), 200);
}

TEST_F(AdminServerTest, OversizedBodyRefused) {
  start();
  server_->add_handler(http::verb::post, "/sink", [](const Request&) {
    return Response{200, "ok"};
  });
  std::string body(70 * 1024, 'b');
  std::string r =
      fetch("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body);
  EXPECT_EQ(status_of(r), 413) << r.substr(0, 200);
  EXPECT_EQ(refused("body_too_large"), 1u);
  std::string fits(60 * 1024, 'b');
  r = fetch("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(fits.size()) +
            "\r\n\r\n" + fits);
  EXPECT_EQ(status_of(r), 200);
}

// A literal with embedded NULs, all of it.
template <size_t N>
std::string bytes(const char (&s)[N]) {
  return std::string(s, N - 1);
}

TEST_F(AdminServerTest, GarbageThenNormalRequestOnNewConnection) {
  start();
  std::vector<std::string> garbage = {
      bytes("\x00\xff\x16\x03\x01\x02\x00garbage\r\n\r\n"),
      bytes("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"),  // a TLS ClientHello start
      "GET / HTTP/9.9\r\n\r\n",
      "GET /live HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "GET /live HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "\r\n\r\n\r\n",
  };
  std::string random;
  std::uint32_t x = 12345;
  for (int i = 0; i < 5000; ++i) {
    x = x * 1103515245 + 12345;
    random += static_cast<char>(x >> 24);
  }
  garbage.push_back(random);
  for (const auto& g : garbage) {
    Conn c(server_->port());
    ASSERT_TRUE(c.ok());
    c.send(g);
    std::string r = c.read_response(2s);
    if (!r.empty()) {
      EXPECT_EQ(status_of(r), 400) << r;
    }
    Conn next(server_->port());
    ASSERT_TRUE(next.send(get("/live")));
    EXPECT_EQ(status_of(next.read_response()), 200);
  }
  EXPECT_GE(refused("bad_request"), 5u);
}

TEST_F(AdminServerTest, ReadTimeoutClosesSlowRequest) {
  start({.read_timeout = 200ms});
  Conn c(server_->port());
  ASSERT_TRUE(c.send("GET /live HTTP/1.1\r\nHost: t\r\n"));  // never finished
  EXPECT_TRUE(c.closed_within(5s));
  EXPECT_TRUE(eventually([&] { return refused("read_timeout") == 1; }));
}

TEST_F(AdminServerTest, IdleKeepAliveTimeout) {
  start({.idle_timeout = 200ms});
  Conn c(server_->port());
  ASSERT_TRUE(c.send(get("/live")));
  EXPECT_EQ(status_of(c.read_response()), 200);
  EXPECT_TRUE(c.closed_within(5s));
  EXPECT_EQ(refused("read_timeout"), 0u);  // going quiet between requests is not a refusal
}

TEST_F(AdminServerTest, ConnectionLimit) {
  start({.max_connections = 2, .loopback_reserve = 0});
  Conn a(server_->port()), b(server_->port());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(eventually([&] { return server_->open_connections() == 2; }));
  Conn c(server_->port());  // the kernel accepts; the server closes it at once
  EXPECT_TRUE(c.closed_within(5s));
  EXPECT_TRUE(eventually([&] { return refused("too_many_connections") == 1; }));
  // The two admitted connections still work, and a slot frees when one goes.
  ASSERT_TRUE(a.send(get("/live", "Connection: close\r\n")));
  EXPECT_EQ(status_of(a.read_response()), 200);
  ASSERT_TRUE(eventually([&] { return server_->open_connections() == 1; }));
  EXPECT_EQ(status_of(fetch(get("/live"))), 200);
}

// One peer holding many idle connections (the test's 127.0.0.2) hits its own cap; another
// source (127.0.0.3) is still served, and a slot frees when the peer lets one go.
TEST_F(AdminServerTest, PerSourceCapKeepsOnePeerFromTakingEverySlot) {
  start({.max_connections_per_source = 3});
  std::vector<std::unique_ptr<Conn>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<Conn>(server_->port(), "127.0.0.1", "127.0.0.2"));
    ASSERT_TRUE(held.back()->ok());
  }
  ASSERT_TRUE(eventually([&] { return server_->open_connections() == 3; }));
  Conn fourth(server_->port(), "127.0.0.1", "127.0.0.2");
  EXPECT_TRUE(fourth.closed_within(5s));
  EXPECT_TRUE(eventually([&] { return refused("too_many_from_source") == 1; }));
  EXPECT_EQ(refused("too_many_connections"), 0u);

  Conn other(server_->port(), "127.0.0.1", "127.0.0.3");
  ASSERT_TRUE(other.send(get("/live")));
  EXPECT_EQ(status_of(other.read_response()), 200);

  held.pop_back();
  ASSERT_TRUE(eventually([&] { return server_->open_connections() == 3; }));  // 2 held + other
  Conn again(server_->port(), "127.0.0.1", "127.0.0.2");
  ASSERT_TRUE(again.send(get("/live")));
  EXPECT_EQ(status_of(again.read_response()), 200);
}

std::string non_loopback_ipv4() {
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return "";
  std::string found;
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    if (std::string_view(buf).rfind("127.", 0) != 0) {
      found = buf;
      break;
    }
  }
  freeifaddrs(ifs);
  return found;
}

// The global cap holds for remote peers, but loopback peers get a few slots past it: a local
// probe is answered while remote peers fill the server.
TEST_F(AdminServerTest, LoopbackReserveAnswersPastTheCap) {
  std::string ip = non_loopback_ipv4();
  if (ip.empty()) GTEST_SKIP() << "no non-loopback IPv4 address on this machine";
  start({.address = "0.0.0.0",
         .max_connections = 2,
         .max_connections_per_source = 10,
         .loopback_reserve = 1});
  Conn a(server_->port(), ip.c_str()), b(server_->port(), ip.c_str());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(eventually([&] { return server_->open_connections() == 2; }));
  Conn remote(server_->port(), ip.c_str());
  EXPECT_TRUE(remote.closed_within(5s));
  EXPECT_TRUE(eventually([&] { return refused("too_many_connections") == 1; }));
  Conn local(server_->port());
  ASSERT_TRUE(local.send(get("/live")));
  EXPECT_EQ(status_of(local.read_response()), 200);
}

TEST_F(AdminServerTest, LoopbackOnlyRoute) {
  start({.address = "0.0.0.0"});
  std::atomic<int> calls{0};
  server_->add_handler(
      http::verb::post, "/shutdown",
      [&](const Request&) {
        ++calls;
        return Response{200, "bye"};
      },
      true);
  std::string req = "POST /shutdown HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(status_of(fetch(req)), 200);
  EXPECT_EQ(calls.load(), 1);

  std::string ip = non_loopback_ipv4();
  if (ip.empty()) GTEST_SKIP() << "no non-loopback IPv4 address on this machine";
  Conn c(server_->port(), ip.c_str());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(req));
  std::string r = c.read_response();
  EXPECT_EQ(status_of(r), 403) << r;
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(refused("forbidden"), 1u);
  ASSERT_TRUE(c.send(get("/live")));  // non-loopback peers still get the public routes
  EXPECT_EQ(status_of(c.read_response()), 200);
}

TEST_F(AdminServerTest, StopClosesListenerAndOpenSessions) {
  start();
  std::uint16_t port = server_->port();
  Conn idle(port);
  ASSERT_TRUE(idle.send(get("/live")));
  EXPECT_EQ(status_of(idle.read_response()), 200);
  ASSERT_TRUE(eventually([&] { return server_->open_connections() == 1; }));
  server_->stop();
  EXPECT_TRUE(idle.closed_within(5s));
  EXPECT_TRUE(eventually([&] { return finished_.load() == 2; })) << "work left after stop()";
  Conn late(port);
  EXPECT_FALSE(late.ok());
}

TEST_F(AdminServerTest, StopFromHandlerStillAnswers) {
  start();
  server_->add_handler(http::verb::post, "/shutdown", [&](const Request&) {
    server_->stop();
    return Response{200, "shutting down"};
  });
  std::string r = fetch("POST /shutdown HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_EQ(body_of(r), "shutting down");
  EXPECT_TRUE(eventually([&] { return finished_.load() == 2; }));
}

TEST(AdminServerStart, BindErrorsAreResults) {
  boost::asio::io_context ioc;
  metrics::Registry registry;
  AdminServer first(ioc, registry);
  ASSERT_TRUE(first.start().ok());
  AdminServer second(ioc, registry, {.port = first.port()});
  auto r = second.start();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "admin_bind_failed");
  EXPECT_NE(r.error().message.find("127.0.0.1:" + std::to_string(first.port())), std::string::npos);
  AdminServer bad(ioc, registry, {.address = "not-an-ip"});
  EXPECT_EQ(bad.start().error().code, "admin_bad_address");
}

}  // namespace
}  // namespace strait::admin
