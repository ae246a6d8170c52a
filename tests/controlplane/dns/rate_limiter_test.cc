// RateLimiter: a second's worth of responses per source, then slip and drop in turn.
#include "controlplane/dns/rate_limiter.h"

#include <gtest/gtest.h>

namespace strait::controlplane::dns {
namespace {

using V = RateLimiter::Verdict;

TEST(RateLimiter, ABurstOfOneSecondThenHalfSlipAndHalfDropUntilItRefills) {
  RateLimiter r(10);
  const auto t0 = RateLimiter::Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(r.check("198.18.1.10", t0), V::kAllow) << i;
  EXPECT_EQ(r.check("198.18.1.10", t0), V::kSlip);
  EXPECT_EQ(r.check("198.18.1.10", t0), V::kDrop);
  EXPECT_EQ(r.check("198.18.1.10", t0), V::kSlip);
  // Another source has its own bucket.
  EXPECT_EQ(r.check("198.18.1.11", t0), V::kAllow);
  // A tenth of a second buys one response.
  EXPECT_EQ(r.check("198.18.1.10", t0 + std::chrono::milliseconds(100)), V::kAllow);
  EXPECT_NE(r.check("198.18.1.10", t0 + std::chrono::milliseconds(100)), V::kAllow);
}

TEST(RateLimiter, ZeroIsOffAndSourcesAreBounded) {
  RateLimiter off(0);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(off.check("a"), V::kAllow);
  RateLimiter small(5, /*max_sources=*/100);
  const auto t0 = RateLimiter::Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 1000; ++i) (void)small.check("10.0." + std::to_string(i), t0);
  EXPECT_LE(small.sources(), 100u);
}

}  // namespace
}  // namespace strait::controlplane::dns
