// GatewayProbe against an in-test HTTPS server (core/tls + TlsStream) standing in for the
// gateway's probe port: one probe's outcomes, and the worker's transitions.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/detached.hpp>
#include <future>
#include <condition_variable>
#include <thread>

#include "link/gateway_probe.h"
#include "tests/core/tls/pki_fixture.h"
#include "tests/link/https_server.h"

namespace strait::link {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using tls::testing::must;

const char* kGatewayId = "spiffe://east.strait/ns/strait-multicluster/sa/strait-gateway";

class GatewayProbeTest : public ::testing::Test {
 protected:
  GatewayProbeTest()
      : east_("east.strait"),
        server_(east_.credentials("strait-multicluster", "strait-gateway"), east_.bundle) {
    auto client = east_.credentials("strait-multicluster", "link-west");
    client_ctx_ = must(tls::make_client_context(&client, east_.bundle));
  }
  void SetUp() override {
    ASSERT_TRUE(server_.start());
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    guard_.reset();
    io_.stop();
    thread_.join();
  }

  Result<std::chrono::microseconds> probe(std::uint16_t port, std::string identity = kGatewayId,
                                          std::chrono::milliseconds timeout = 2s) {
    ProbeRequest req{"127.0.0.1", port, "/ready", std::move(identity), client_ctx_, timeout};
    std::promise<Result<std::chrono::microseconds>> done;
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> { done.set_value(co_await probe_once(req)); },
        asio::detached);
    return done.get_future().get();
  }

  tls::testing::Cluster east_;
  testing::TestHttpsServer server_;
  tls::ContextPtr client_ctx_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
  std::thread thread_;
};

TEST_F(GatewayProbeTest, SucceedsOverMutualTls) {
  auto r = probe(server_.port());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(server_.requests(), 1);
  EXPECT_EQ(server_.last_client_identity(),
            "spiffe://east.strait/ns/strait-multicluster/sa/link-west");
}

// Finding 8: the probe's request waited behind the handshake's last flight for the gateway's
// delayed ACK (Nagle), ~40 ms on every probe where the gateway answers in ~1. That stall is a
// fixed kernel timer, not load, so the fastest of a few probes shows whether it is there.
TEST_F(GatewayProbeTest, RequestIsNotHeldBackByNagle) {
  std::chrono::microseconds fastest = std::chrono::hours(1);
  for (int i = 0; i < 5; ++i) {
    auto r = probe(server_.port());
    ASSERT_TRUE(r) << r.error().to_string();
    fastest = std::min(fastest, *r);
  }
  EXPECT_LT(fastest, 30ms) << "fastest of 5 probes: " << fastest.count() << " us";
}

TEST_F(GatewayProbeTest, RefusesAnotherIdentity) {
  auto r = probe(server_.port(), "spiffe://east.strait/ns/strait-multicluster/sa/someone-else");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "tls_failed");
  EXPECT_EQ(server_.requests(), 0);
}

TEST_F(GatewayProbeTest, RefusesAServerOutsideTheLinksRoots) {
  tls::testing::Cluster other("east.strait");  // same name, different root
  testing::TestHttpsServer impostor(other.credentials("strait-multicluster", "strait-gateway"),
                                    other.bundle);
  ASSERT_TRUE(impostor.start());
  auto r = probe(impostor.port());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "tls_failed");
}

TEST_F(GatewayProbeTest, NonSuccessStatusFails) {
  testing::TestHttpsServer sick(east_.credentials("strait-multicluster", "strait-gateway"),
                                east_.bundle, 503);
  ASSERT_TRUE(sick.start());
  auto r = probe(sick.port());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "bad_status");
}

TEST_F(GatewayProbeTest, NothingListeningFailsToConnect) {
  const auto port = server_.port();
  server_.stop();
  auto r = probe(port);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "connect_failed");
}

TEST_F(GatewayProbeTest, SilentPeerTimesOut) {
  // Accepts TCP (the kernel's backlog) but never speaks TLS.
  asio::io_context other;
  asio::ip::tcp::acceptor silent(other, {asio::ip::make_address("127.0.0.1"), 0});
  const auto started = std::chrono::steady_clock::now();
  auto r = probe(silent.local_endpoint().port(), kGatewayId, 300ms);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "timeout");
  EXPECT_LT(took, 3s);
}

TEST_F(GatewayProbeTest, WorkerReportsOnlyTransitions) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<bool> transitions;
  int probes = 0, successes = 0;
  GatewayProbe worker(io_.get_executor(), {.on_transition =
                                               [&](bool alive) {
                                                 std::lock_guard lock(mu);
                                                 transitions.push_back(alive);
                                                 cv.notify_all();
                                               },
                                           .on_probe =
                                               [&](const std::string& result, double) {
                                                 std::lock_guard lock(mu);
                                                 ++probes;
                                                 if (result == "success") ++successes;
                                                 cv.notify_all();
                                               }});
  discovery::ProbeSpec spec;
  spec.port = server_.port();
  spec.period = 50ms;
  spec.timeout = 500ms;
  spec.failure_threshold = 3;
  asio::post(io_, [&] {
    worker.configure({"127.0.0.1"}, spec, kGatewayId, client_ctx_);
    worker.start();
  });
  auto wait = [&](auto pred, std::chrono::milliseconds deadline) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, deadline, pred);
  };
  ASSERT_TRUE(wait([&] { return successes >= 3; }, 10s));
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(transitions.empty());  // alive from the start: nothing to report
  }
  const auto port = server_.port();
  server_.stop();
  const auto stopped = std::chrono::steady_clock::now();
  // period x threshold (+10 % jitter) plus a margin.
  ASSERT_TRUE(wait([&] { return transitions.size() == 1; }, 3s));
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 3s);
  {
    std::lock_guard lock(mu);
    EXPECT_FALSE(transitions[0]);
  }
  ASSERT_TRUE(server_.start(port));
  ASSERT_TRUE(wait([&] { return transitions.size() == 2; }, 5s));
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(transitions[1]);
  }
  // Steady health: no further reports.
  const int seen = [&] {
    std::lock_guard lock(mu);
    return probes;
  }();
  ASSERT_TRUE(wait([&] { return probes >= seen + 3; }, 5s));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(transitions.size(), 2u);
  }
  asio::post(io_, [&] { worker.stop(); });
  std::promise<void> done;
  asio::post(io_, [&] { done.set_value(); });
  done.get_future().wait();
}

}  // namespace
}  // namespace strait::link
