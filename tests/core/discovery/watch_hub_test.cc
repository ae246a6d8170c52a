// WatchHub: initial state then changes, resume from a version, version_expired, kind filters,
// cancel semantics under a concurrent publisher, and isolation from slow callbacks.
#include "core/discovery/watch_hub.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

namespace strait::discovery {
namespace {

using namespace std::chrono_literals;

Event make_event(std::uint64_t version, Kind kind = Kind::kService,
                 Event::Type type = Event::Type::kModified) {
  Object o = Service{};
  if (kind == Kind::kEndpoint) o = Endpoint{};
  if (kind == Kind::kServer) o = Server{};
  meta_of(o).name = "o" + std::to_string(version);
  meta_of(o).version = version;
  return Event{type, std::move(o)};
}

// Collects delivered versions; wait_for() blocks with a deadline.
class Collector {
 public:
  std::function<void(const Event&)> callback() {
    return [this](const Event& e) {
      std::lock_guard<std::mutex> lock(mu_);
      versions_.push_back(meta_of(e.object).version);
      types_.push_back(e.type);
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds deadline = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return versions_.size() >= n; });
  }
  std::vector<std::uint64_t> versions() {
    std::lock_guard<std::mutex> lock(mu_);
    return versions_;
  }
  std::vector<Event::Type> types() {
    std::lock_guard<std::mutex> lock(mu_);
    return types_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::uint64_t> versions_;
  std::vector<Event::Type> types_;
};

TEST(WatchHub, InitialStateThenChangesInOrder) {
  WatchHub hub(5);
  Collector c;
  std::vector<Event> initial{make_event(2, Kind::kService, Event::Type::kAdded),
                             make_event(5, Kind::kService, Event::Type::kAdded)};
  auto w = hub.subscribe({}, c.callback(), initial, 5);
  ASSERT_TRUE(w.ok());
  for (std::uint64_t v = 6; v <= 200; ++v) hub.publish(make_event(v));
  ASSERT_TRUE(c.wait_for(197));
  std::vector<std::uint64_t> expected{2, 5};
  for (std::uint64_t v = 6; v <= 200; ++v) expected.push_back(v);
  EXPECT_EQ(c.versions(), expected);
  EXPECT_EQ(c.types()[0], Event::Type::kAdded);
  EXPECT_EQ(c.types()[2], Event::Type::kModified);
}

TEST(WatchHub, ResumeFromVersionAndExpiry) {
  WatchHub hub(10, WatchHubOptions{.log_capacity = 5});
  for (std::uint64_t v = 11; v <= 20; ++v) hub.publish(make_event(v));
  EXPECT_EQ(hub.oldest_resumable_version(), 15u);

  Collector c;
  auto w = hub.subscribe(WatchRequest{{}, 17}, c.callback(), {}, 20);
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  hub.publish(make_event(21));
  ASSERT_TRUE(c.wait_for(4));
  EXPECT_EQ(c.versions(), (std::vector<std::uint64_t>{18, 19, 20, 21}));

  // From the oldest resumable version itself: fine (nothing missing after it).
  Collector c2;
  auto w2 = hub.subscribe(WatchRequest{{}, 16}, c2.callback(), {}, 21);
  ASSERT_TRUE(w2.ok());
  ASSERT_TRUE(c2.wait_for(5));

  auto expired = hub.subscribe(
      WatchRequest{{}, 14}, [](const Event&) {}, {}, 21);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, "version_expired");
  auto future = hub.subscribe(
      WatchRequest{{}, 99}, [](const Event&) {}, {}, 21);
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.error().code, "version_expired");
}

TEST(WatchHub, KindFilter) {
  WatchHub hub(0);
  Collector c;
  auto w = hub.subscribe(WatchRequest{{Kind::kEndpoint}, 0}, c.callback(),
                         {make_event(0, Kind::kService, Event::Type::kAdded)}, 0);
  ASSERT_TRUE(w.ok());
  hub.publish(make_event(1, Kind::kService));
  hub.publish(make_event(2, Kind::kEndpoint));
  hub.publish(make_event(3, Kind::kServer));
  hub.publish(make_event(4, Kind::kEndpoint));
  ASSERT_TRUE(c.wait_for(2));
  EXPECT_EQ(c.versions(), (std::vector<std::uint64_t>{2, 4}));
}

TEST(WatchHub, CancelWaitsForRunningCallbackAndStopsDelivery) {
  WatchHub hub(0);
  std::atomic<bool> in_callback{false};
  std::atomic<int> calls{0};
  std::atomic<bool> violated{false};
  auto w = hub.subscribe(
      {},
      [&](const Event&) {
        if (in_callback.exchange(true)) violated = true;  // two at once: not serialized
        calls++;
        std::this_thread::sleep_for(200us);
        in_callback = false;
      },
      {}, 0);
  ASSERT_TRUE(w.ok());

  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::uint64_t v = 0;
    while (!stop) hub.publish(make_event(++v));
  });
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (calls < 50 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_GE(calls.load(), 50);

  (*w)->cancel();
  EXPECT_FALSE(in_callback.load());  // not running once cancel returned...
  int after_cancel = calls.load();
  // ...and never again, although the writer keeps publishing.
  std::this_thread::sleep_for(50ms);
  stop = true;
  writer.join();
  EXPECT_EQ(calls.load(), after_cancel);
  EXPECT_FALSE(violated.load());
  EXPECT_EQ(hub.watcher_count(), 0u);
}

TEST(WatchHub, CancelFromInsideTheCallbackDoesNotDeadlock) {
  WatchHub hub(0);
  std::atomic<int> calls{0};
  WatchPtr self;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  auto w = hub.subscribe(
      {},
      [&](const Event&) {
        calls++;
        std::lock_guard<std::mutex> lock(mu);
        if (self) self->cancel();
        done = true;
        cv.notify_all();
      },
      {}, 0);
  ASSERT_TRUE(w.ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    self = std::move(w).value();
  }
  hub.publish(make_event(1));
  hub.publish(make_event(2));
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return done; }));
  lock.unlock();
  // The second event was queued before the cancel but must not be delivered after it.
  Collector barrier;
  auto w2 = hub.subscribe({}, barrier.callback(), {}, 2);
  ASSERT_TRUE(w2.ok());
  hub.publish(make_event(3));
  ASSERT_TRUE(barrier.wait_for(1));
  EXPECT_EQ(calls.load(), 1);
}

TEST(WatchHub, SlowWatcherBlocksNeitherPublishNorOtherWatchers) {
  WatchHub hub(0);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> slow_calls{0};
  auto slow = hub.subscribe(
      {},
      [&](const Event&) {
        slow_calls++;
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return release; });
      },
      {}, 0);
  ASSERT_TRUE(slow.ok());
  Collector fast;
  auto fast_w = hub.subscribe({}, fast.callback(), {}, 0);
  ASSERT_TRUE(fast_w.ok());

  for (std::uint64_t v = 1; v <= 1000; ++v) hub.publish(make_event(v));  // returns: no blocking
  ASSERT_TRUE(fast.wait_for(1000));
  EXPECT_EQ(slow_calls.load(), 1);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (slow_calls < 1000 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  EXPECT_EQ(slow_calls.load(), 1000);
}

TEST(WatchHub, HandlesMayOutliveTheHub) {
  WatchPtr handle;
  {
    WatchHub hub(0);
    Collector c;
    auto w = hub.subscribe({}, c.callback(), {}, 0);
    ASSERT_TRUE(w.ok());
    hub.publish(make_event(1));
    ASSERT_TRUE(c.wait_for(1));
    handle = std::move(w).value();
  }
  handle->cancel();
  handle.reset();
}

}  // namespace
}  // namespace strait::discovery
