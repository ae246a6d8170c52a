// EmbeddedStore semantics (run in memory mode and with a state directory): put/get/list/remove,
// versions, expected_version conflicts, and watches (initial state, resume, expiry, cancel
// under a concurrent writer, slow watchers).
#include "controlplane/store/embedded_store.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "tests/controlplane/store/store_test_util.h"

namespace strait::store {
namespace {

using namespace std::chrono_literals;
using discovery::Event;
using discovery::Kind;
using discovery::Object;
using discovery::ObjectKey;
using testing::Collector;
using testing::endpoint;
using testing::Seen;
using testing::service;
using testing::TempDir;

class StoreTest : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<EmbeddedStore> open(EmbeddedStoreOptions options = {}) {
    auto s = EmbeddedStore::open(GetParam() ? dir_.path() : std::filesystem::path(), options);
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    return std::move(s).value();
  }
  TempDir dir_;
};

TEST_P(StoreTest, PutGetListRemove) {
  auto store = open();
  EXPECT_EQ(store->version(), 0u);
  auto a = store->put(service("shop", "web"));
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_EQ(discovery::meta_of(*a).version, 1u);
  ASSERT_TRUE(store->put(service("shop", "api")).ok());
  ASSERT_TRUE(store->put(service("ops", "grafana")).ok());
  ASSERT_TRUE(store->put(endpoint("shop", "web-1")).ok());
  EXPECT_EQ(store->version(), 4u);

  auto got = store->get(ObjectKey{Kind::kService, "shop", "web"});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(std::get<discovery::Service>(*got).ports[0].port, 80);
  EXPECT_EQ(discovery::meta_of(*got).version, 1u);
  EXPECT_FALSE(store->get(ObjectKey{Kind::kEndpoint, "shop", "web"}).has_value());

  EXPECT_EQ(store->list(Kind::kService).size(), 3u);
  auto shop = store->list(Kind::kService, "shop");
  ASSERT_EQ(shop.size(), 2u);
  EXPECT_EQ(discovery::meta_of(shop[0]).name, "api");
  EXPECT_EQ(discovery::meta_of(shop[1]).name, "web");
  EXPECT_EQ(store->list(Kind::kEndpoint).size(), 1u);
  EXPECT_TRUE(store->list(Kind::kLink).empty());

  // Replace: new version, same key.
  auto b = store->put(service("shop", "web", 81));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(discovery::meta_of(*b).version, 5u);
  EXPECT_EQ(std::get<discovery::Service>(*store->get(ObjectKey{Kind::kService, "shop", "web"}))
                .ports[0]
                .port,
            81);

  auto removed = store->remove(ObjectKey{Kind::kService, "shop", "web"});
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(discovery::meta_of(*removed).version, 5u);  // the removed object as it was
  EXPECT_EQ(store->version(), 6u);
  EXPECT_FALSE(store->get(ObjectKey{Kind::kService, "shop", "web"}).has_value());
  auto again = store->remove(ObjectKey{Kind::kService, "shop", "web"});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "not_found");
  EXPECT_EQ(store->version(), 6u);
}

TEST_P(StoreTest, ExpectedVersionConflicts) {
  auto store = open();
  auto created = store->put(service("shop", "web"), 0);
  ASSERT_TRUE(created.ok());
  auto dup = store->put(service("shop", "web"), 0);  // must not exist
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "conflict");
  auto stale = store->put(service("shop", "web", 90), 7);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, "conflict");
  EXPECT_EQ(store->version(), 1u);  // failed writes use no version
  auto ok = store->put(service("shop", "web", 90), 1);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(discovery::meta_of(*ok).version, 2u);
  auto missing = store->put(service("shop", "nope"), 3);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "conflict");
}

TEST_P(StoreTest, WatchFromZeroGivesStateThenChanges) {
  auto store = open();
  ASSERT_TRUE(store->put(service("shop", "web")).ok());
  ASSERT_TRUE(store->put(endpoint("shop", "web-1")).ok());
  ASSERT_TRUE(store->put(service("shop", "api")).ok());
  Collector all, endpoints;
  auto w = store->watch({}, all.callback());
  ASSERT_TRUE(w.ok());
  auto we = store->watch(discovery::WatchRequest{{Kind::kEndpoint}, 0}, endpoints.callback());
  ASSERT_TRUE(we.ok());
  ASSERT_TRUE(store->put(service("shop", "web", 81)).ok());
  ASSERT_TRUE(store->remove(ObjectKey{Kind::kEndpoint, "shop", "web-1"}).ok());
  ASSERT_TRUE(all.wait_for(5));
  ASSERT_TRUE(endpoints.wait_for(2));
  EXPECT_EQ(all.seen(), (std::vector<Seen>{
                            {Event::Type::kAdded, {Kind::kService, "shop", "api"}, 3},
                            {Event::Type::kAdded, {Kind::kService, "shop", "web"}, 1},
                            {Event::Type::kAdded, {Kind::kEndpoint, "shop", "web-1"}, 2},
                            {Event::Type::kModified, {Kind::kService, "shop", "web"}, 4},
                            {Event::Type::kDeleted, {Kind::kEndpoint, "shop", "web-1"}, 5},
                        }));
  EXPECT_EQ(endpoints.seen(), (std::vector<Seen>{
                                  {Event::Type::kAdded, {Kind::kEndpoint, "shop", "web-1"}, 2},
                                  {Event::Type::kDeleted, {Kind::kEndpoint, "shop", "web-1"}, 5},
                              }));
}

TEST_P(StoreTest, WatchFromVersionReplaysAndExpires) {
  EmbeddedStoreOptions options;
  options.watch_log_capacity = 10;
  auto store = open(options);
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(store->put(service("shop", "s" + std::to_string(i % 3))).ok());
  Collector c;
  auto w = store->watch(discovery::WatchRequest{{}, 25}, c.callback());
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  ASSERT_TRUE(store->put(service("shop", "s9")).ok());
  ASSERT_TRUE(c.wait_for(6));
  auto seen = c.seen();
  ASSERT_EQ(seen.size(), 6u);
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i].version, 26 + i);
  EXPECT_EQ(seen.back().type, Event::Type::kAdded);

  auto expired = store->watch(discovery::WatchRequest{{}, 5}, [](const Event&) {});
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, "version_expired");
}

TEST_P(StoreTest, CancelWithConcurrentWriter) {
  auto store = open();
  std::atomic<bool> in_callback{false};
  std::atomic<int> calls{0};
  auto w = store->watch({}, [&](const Event&) {
    in_callback = true;
    calls++;
    std::this_thread::sleep_for(100us);
    in_callback = false;
  });
  ASSERT_TRUE(w.ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    int i = 0;
    while (!stop) {
      auto r = store->put(service("shop", "s" + std::to_string(i++ % 20)));
      ASSERT_TRUE(r.ok());
    }
  });
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (calls < 20 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_GE(calls.load(), 20);
  w->reset();  // destroying the handle cancels
  EXPECT_FALSE(in_callback.load());
  int after = calls.load();
  std::uint64_t v = store->version();
  deadline = std::chrono::steady_clock::now() + 20s;
  while (store->version() < v + 20 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  stop = true;
  writer.join();
  EXPECT_GE(store->version(), v + 20);
  EXPECT_EQ(calls.load(), after);
}

TEST_P(StoreTest, SlowWatcherDoesNotBlockWritesOrReads) {
  auto store = open();
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> calls{0};
  auto w = store->watch({}, [&](const Event&) {
    calls++;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
  });
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(store->put(service("shop", "s" + std::to_string(i))).ok());
  EXPECT_EQ(store->list(Kind::kService).size(), 200u);  // reads too
  // The watcher's worker may not have started its first callback yet: wait for it, then it
  // must still be the only one (stuck all along, while 200 writes went through).
  auto started = std::chrono::steady_clock::now() + 10s;
  while (calls.load() == 0 && std::chrono::steady_clock::now() < started) std::this_thread::yield();
  EXPECT_EQ(calls.load(), 1);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (calls < 200 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(calls.load(), 200);
}

TEST_P(StoreTest, EphemeralObjectsBehaveLikeOthersInMemory) {
  auto store = open();
  auto e = store->put(endpoint("shop", "web-1", "lease:abc"));
  ASSERT_TRUE(e.ok()) << e.error().to_string();
  EXPECT_EQ(discovery::meta_of(*e).version, 1u);
  EXPECT_TRUE(store->get(ObjectKey{Kind::kEndpoint, "shop", "web-1"}).has_value());
  ASSERT_TRUE(store->remove(ObjectKey{Kind::kEndpoint, "shop", "web-1"}).ok());
  EXPECT_EQ(store->version(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Modes, StoreTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Persistent" : "Memory"; });

}  // namespace
}  // namespace strait::store
