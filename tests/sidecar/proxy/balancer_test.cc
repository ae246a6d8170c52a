// Balancer: power of two choices over peak-EWMA latency x pending, weighted; endpoints keep
// their load across updates and forget it when they leave.
#include "sidecar/proxy/balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

namespace strait::proxy {
namespace {

using namespace std::chrono_literals;
namespace dst = destination::v1;

double ns(std::chrono::nanoseconds d) { return static_cast<double>(d.count()); }

dst::WeightedAddr addr(const std::string& ip, std::uint32_t weight = 10000) {
  dst::WeightedAddr a;
  a.mutable_addr()->set_ip(ip);
  a.mutable_addr()->set_port(8080);
  a.set_weight(weight);
  return a;
}

std::map<std::string, dst::WeightedAddr> endpoints(std::initializer_list<std::string> ips) {
  std::map<std::string, dst::WeightedAddr> out;
  for (const auto& ip : ips) out[ip + ":8080"] = addr(ip);
  return out;
}

TEST(Balancer, EmptyHasNoPickAndOneEndpointIsAlwaysIt) {
  Balancer b;
  std::minstd_rand rng(1);
  EXPECT_FALSE(b.pick(rng).has_value());
  b.update(endpoints({"10.0.0.1"}));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.pick(rng)->key, "10.0.0.1:8080");
  b.update({});
  EXPECT_TRUE(b.empty());
  EXPECT_FALSE(b.pick(rng).has_value());
}

// Equal endpoints share the work: each of three gets a fair part of 3,000 picks.
TEST(Balancer, EqualEndpointsShareTheWork) {
  Balancer b;
  b.update(endpoints({"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  std::minstd_rand rng(7);
  std::map<std::string, int> seen;
  for (int i = 0; i < 3000; ++i) {
    auto p = b.pick(rng);
    ASSERT_TRUE(p);
    ++seen[p->key];
    p->in_flight.observe(5ms);
  }
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& [k, n] : seen) EXPECT_GT(n, 600) << k;
}

// Costs a few percent apart are equal: an endpoint whose estimate is a hair above its peers'
// (as after a first request 1 ms slower, while every estimate is still near the default RTT)
// still gets its share instead of losing every comparison until the estimates decay.
TEST(Balancer, NearlyEqualCostsShareTheWork) {
  Balancer b;
  b.update(endpoints({"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  std::minstd_rand rng(11);
  for (const std::string key : {"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}) {
    for (int i = 0; i < 100; ++i) {
      auto p = b.pick(rng);
      if (p->key != key) continue;
      p->in_flight.observe(key == "10.0.0.3:8080" ? 31ms : 30ms);
      break;
    }
  }
  ASSERT_GT(b.cost("10.0.0.3:8080"), b.cost("10.0.0.1:8080"));
  std::map<std::string, int> seen;
  for (int i = 0; i < 3000; ++i) {
    auto p = b.pick(rng);
    ++seen[p->key];
    p->in_flight.observe(30ms);
  }
  for (const auto& [k, n] : seen) EXPECT_GT(n, 600) << k;
  EXPECT_GT(seen["10.0.0.3:8080"], 600);
}

// A slow endpoint (100 ms where the others answer in 1 ms) gets clearly fewer requests.
TEST(Balancer, ASlowEndpointGetsFewerRequests) {
  Balancer b;
  b.update(endpoints({"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  std::minstd_rand rng(3);
  std::map<std::string, int> seen;
  for (int i = 0; i < 3000; ++i) {
    auto p = b.pick(rng);
    ASSERT_TRUE(p);
    ++seen[p->key];
    p->in_flight.observe(p->key == "10.0.0.3:8080" ? 100ms : 1ms);
  }
  EXPECT_LT(seen["10.0.0.3:8080"], 3000 / 10) << seen["10.0.0.3:8080"];
  EXPECT_GT(seen["10.0.0.1:8080"], 1000);
  EXPECT_GT(seen["10.0.0.2:8080"], 1000);
}

// Work piling up on an endpoint (requests in flight) raises its cost at once.
TEST(Balancer, PendingRequestsRaiseTheCost) {
  Balancer b;
  b.update(endpoints({"10.0.0.1", "10.0.0.2"}));
  const double idle = b.cost("10.0.0.1:8080");
  std::minstd_rand rng(5);
  std::vector<Pick> held;
  for (int i = 0; i < 20; ++i) {
    auto p = b.pick(rng);
    ASSERT_TRUE(p);
    held.push_back(std::move(*p));
  }
  // Twenty in flight, spread so that neither endpoint holds far more than the other.
  const double c1 = b.cost("10.0.0.1:8080"), c2 = b.cost("10.0.0.2:8080");
  EXPECT_GT(c1, idle * 5);
  EXPECT_LT(std::max(c1, c2) / std::min(c1, c2), 1.5);
  held.clear();  // all done: back to idle (within the default RTT's decay)
  EXPECT_LE(b.cost("10.0.0.1:8080"), idle * 1.01);
}

TEST(Balancer, WeightsShiftTheShare) {
  Balancer b;
  std::map<std::string, dst::WeightedAddr> eps;
  eps["10.0.0.1:8080"] = addr("10.0.0.1", 30000);
  eps["10.0.0.2:8080"] = addr("10.0.0.2", 10000);
  b.update(eps);
  std::minstd_rand rng(11);
  std::map<std::string, int> seen;
  std::vector<Pick> held;  // requests stay in flight, so cost = latency x pending / weight
  for (int i = 0; i < 400; ++i) {
    auto p = b.pick(rng);
    ++seen[p->key];
    held.push_back(std::move(*p));
  }
  EXPECT_GT(seen["10.0.0.1:8080"], seen["10.0.0.2:8080"] * 2)
      << seen["10.0.0.1:8080"] << " vs " << seen["10.0.0.2:8080"];
}

// An update keeps what a staying endpoint learned; a new endpoint starts at the default RTT; a
// request in flight to a removed endpoint ends safely.
TEST(Balancer, UpdatesKeepLoadOfStayingEndpointsOnly) {
  Balancer b(Balancer::Settings{.default_rtt = 30ms, .decay = 10s});
  b.update(endpoints({"10.0.0.1", "10.0.0.2"}));
  std::minstd_rand rng(2);
  std::optional<Pick> gone;
  for (int i = 0; i < 50 && !gone; ++i) {
    auto p = b.pick(rng);
    if (p->key == "10.0.0.2:8080") gone = std::move(p);
  }
  ASSERT_TRUE(gone);
  {
    auto p = b.pick(rng);
    while (p->key != "10.0.0.1:8080") p = b.pick(rng);
    p->in_flight.observe(200ms);  // a peak: replaces the estimate at once
  }
  const double learned = b.cost("10.0.0.1:8080");
  EXPECT_GT(learned, ns(150ms));
  b.update(endpoints({"10.0.0.1", "10.0.0.3"}));
  EXPECT_NEAR(b.cost("10.0.0.1:8080"), learned, learned * 0.01);
  EXPECT_NEAR(b.cost("10.0.0.3:8080"), ns(30ms), 1e6);
  EXPECT_EQ(b.cost("10.0.0.2:8080"), -1);
  gone->in_flight.observe(1ms);  // its endpoint left the balancer; the hold is still valid
  gone.reset();
}

// A latency peak is forgotten over the decay time, so a slow endpoint is tried again.
TEST(Balancer, PeaksDecay) {
  Balancer b(Balancer::Settings{.default_rtt = 1ms, .decay = 100ms});
  b.update(endpoints({"10.0.0.1"}));
  std::minstd_rand rng(4);
  b.pick(rng)->in_flight.observe(500ms);
  const double peak = b.cost("10.0.0.1:8080");
  std::this_thread::sleep_for(300ms);  // the decay itself is the subject: three time constants
  EXPECT_LT(b.cost("10.0.0.1:8080"), peak * 0.1);
}

}  // namespace
}  // namespace strait::proxy
