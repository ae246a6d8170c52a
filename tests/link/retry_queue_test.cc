// RetryQueue: retryable failures come back with backoff until they succeed; others are given up;
// one key is queued once.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "link/retry_queue.h"

namespace strait::link {
namespace {
using namespace std::chrono_literals;

RetryQueue::Options fast() {
  RetryQueue::Options o;
  o.min_backoff = 5ms;
  o.max_backoff = 40ms;
  return o;
}

TEST(RetryQueueTest, RetriesRetryableErrorsUntilSuccess) {
  boost::asio::io_context io;
  int failures_reported = 0;
  RetryQueue q(io.get_executor(), fast(), [&](const std::string&, const Error&, bool gave_up) {
    EXPECT_FALSE(gave_up);
    ++failures_reported;
  });
  int calls = 0;
  q.add({"service/shop/web", [&]() -> Result<void> {
           if (++calls < 4) return make_error("unavailable", "down");
           return {};
         }});
  io.run_for(5s);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(failures_reported, 3);
  EXPECT_EQ(q.size(), 0u);
}

TEST(RetryQueueTest, GivesUpOnErrorsThatAreNotRetryable) {
  boost::asio::io_context io;
  bool gave_up = false;
  RetryQueue q(io.get_executor(), fast(),
               [&](const std::string&, const Error&, bool g) { gave_up = g; });
  int calls = 0;
  q.add({"gc", [&]() -> Result<void> {
           ++calls;
           return make_error("invalid_argument", "refused");
         }});
  io.run_for(2s);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(gave_up);
  EXPECT_EQ(q.size(), 0u);
}

TEST(RetryQueueTest, OneKeyIsQueuedOnceWithTheNewestWork) {
  boost::asio::io_context io;
  RetryQueue q(io.get_executor(), fast());
  std::vector<int> ran;
  q.add({"k", [&]() -> Result<void> {
           ran.push_back(1);
           return {};
         }});
  q.add({"k", [&]() -> Result<void> {
           ran.push_back(2);
           return {};
         }});
  EXPECT_EQ(q.size(), 1u);
  io.run_for(2s);
  EXPECT_EQ(ran, std::vector<int>{2});
}

TEST(RetryQueueTest, RateLimitSpreadsRetries) {
  boost::asio::io_context io;
  auto o = fast();
  o.rate_per_second = 20;
  o.burst = 1;
  RetryQueue q(io.get_executor(), o);
  std::vector<std::chrono::steady_clock::time_point> at;
  for (int i = 0; i < 5; ++i) {
    q.add({"k" + std::to_string(i), [&]() -> Result<void> {
             at.push_back(std::chrono::steady_clock::now());
             return {};
           }});
  }
  io.run_for(5s);
  ASSERT_EQ(at.size(), 5u);
  // 5 retries at 20/s with a burst of 1 need at least ~4 x 50 ms.
  EXPECT_GE(at.back() - at.front(), 150ms);
}

}  // namespace
}  // namespace strait::link
