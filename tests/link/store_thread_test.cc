// The store thread: a local store that blocks (a controller that is slow or down) delays only
// the store side. The I/O thread keeps probing on time (gateway_alive flips within
// period x threshold + margin), keeps answering status and taking export events; once the store
// unblocks, the queued writes land in event order. Also: EventQueue coalescing and bound,
// LinkWriter's overflow notice, StoreWorker's drain with a deadline.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "controlplane/server/state_files.h"
#include "core/discovery/json_codec.h"
#include "core/tls/certificate.h"
#include "link/event_queue.h"
#include "link/link_watcher.h"
#include "link/link_writer.h"
#include "link/store_worker.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/core/tls/pki_fixture.h"
#include "tests/link/fake_store.h"
#include "tests/link/https_server.h"

namespace strait::link {
namespace {
namespace asio = boost::asio;
namespace ev = exports::v1;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls `pred` until it holds or `deadline` passes (the state it reads has no notification).
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds deadline = 10s) {
  const auto until = Clock::now() + deadline;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// A FakeStore behind a gate, thread-safe: while blocked, every call waits (as a stalled
// controller would) until unblock() or, if set, its own deadline (then `unavailable`, like a
// gRPC deadline). Successful writes are logged in order.
class BlockingStore final : public LocalStore {
 public:
  Result<void> apply(const std::vector<discovery::Object>& objects) override {
    std::unique_lock lock(mu_);
    if (auto e = wait(lock)) return *e;
    auto r = inner_.apply(objects);
    if (r) {
      for (const auto& o : objects) {
        const auto k = discovery::key_of(o);
        std::string line =
            "apply " + std::string(discovery::kind_name(k.kind)) + " " + k.ns + "/" + k.name;
        if (const auto* e = std::get_if<discovery::Endpoint>(&o))
          line += e->ready ? " ready" : " not_ready";
        if (const auto* s = std::get_if<discovery::Service>(&o); s && !s->ports.empty())
          line += " port=" + std::to_string(s->ports[0].port);
        log_.push_back(line);
      }
    }
    return r;
  }
  Result<void> remove(const discovery::ObjectKey& key) override {
    std::unique_lock lock(mu_);
    if (auto e = wait(lock)) return *e;
    auto r = inner_.remove(key);
    if (r) log_.push_back("remove " + key.ns + "/" + key.name);
    return r;
  }
  Result<std::vector<discovery::Object>> list(discovery::Kind kind,
                                              const std::string& ns) override {
    std::unique_lock lock(mu_);
    if (auto e = wait(lock)) return *e;
    return inner_.list(kind, ns);
  }

  void block(std::optional<std::chrono::milliseconds> call_deadline = std::nullopt) {
    std::lock_guard lock(mu_);
    blocked_ = true;
    call_deadline_ = call_deadline;
  }
  void unblock() {
    std::lock_guard lock(mu_);
    blocked_ = false;
    cv_.notify_all();
  }
  int waiting() const {
    std::lock_guard lock(mu_);
    return waiting_;
  }
  std::vector<std::string> log() const {
    std::lock_guard lock(mu_);
    return log_;
  }
  void put(discovery::Object o) {
    std::lock_guard lock(mu_);
    inner_.put(std::move(o));
  }
  void put_local_service(const std::string& ns, const std::string& name) {
    std::lock_guard lock(mu_);
    inner_.put_local_service(ns, name);
  }
  // Ready flags of a mirror's endpoints ("" when it has none).
  std::string readiness(const std::string& ns, const std::string& service) const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& [name, e] : inner_.endpoints_of(ns, service)) out += e.ready ? "R" : "-";
    return out;
  }
  bool has_service(const std::string& ns, const std::string& name) const {
    std::lock_guard lock(mu_);
    return inner_.service(ns, name) != nullptr;
  }

 private:
  std::optional<Error> wait(std::unique_lock<std::mutex>& lock) {
    if (!blocked_) return std::nullopt;
    ++waiting_;
    bool released = true;
    if (call_deadline_) {
      released = cv_.wait_for(lock, *call_deadline_, [this] { return !blocked_; });
    } else {
      cv_.wait(lock, [this] { return !blocked_; });
    }
    --waiting_;
    if (!released) return make_error("unavailable", "deadline exceeded (test store blocked)");
    return std::nullopt;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  testing::FakeStore inner_;
  bool blocked_ = false;
  std::optional<std::chrono::milliseconds> call_deadline_;
  int waiting_ = 0;
  std::vector<std::string> log_;
};

discovery::Service remote_service(const std::string& name, std::uint16_t port = 80) {
  discovery::Service s;
  s.meta.cluster = "east";
  s.meta.ns = "shop";
  s.meta.name = name;
  s.meta.labels = {{"mirror.strait.dev/exported", "true"}};
  s.ports.push_back({.name = "http", .port = port});
  return s;
}

discovery::Endpoint remote_endpoint(const std::string& service) {
  discovery::Endpoint e;
  e.meta.cluster = "east";
  e.meta.ns = "shop";
  e.meta.name = service + "-1";
  e.service = service;
  e.address = "10.1.0.1";
  e.port = 8080;
  return e;
}

ev::ExportEvent exported(const std::string& name, std::uint16_t port = 80) {
  ev::ExportEvent out;
  out.mutable_exported()->set_service_json(
      boost::json::serialize(discovery::object_to_json(remote_service(name, port))));
  out.mutable_exported()->add_endpoints_json(
      boost::json::serialize(discovery::object_to_json(remote_endpoint(name))));
  return out;
}

ev::ExportEvent synced() {
  ev::ExportEvent e;
  e.mutable_synced();
  return e;
}

ServiceExported exported_event(const std::string& name) {
  ServiceExported e;
  e.remote.service = remote_service(name);
  e.remote.endpoints.push_back(remote_endpoint(name));
  return e;
}

std::size_t index_of(const std::vector<std::string>& log, const std::string& line) {
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (log[i] == line) return i;
  }
  return log.size();
}

// --- EventQueue ---------------------------------------------------------------------------

std::string name_of(const LinkWork& w) {
  const auto& e = std::get<LinkEvent>(w);
  if (const auto* x = std::get_if<ServiceExported>(&e))
    return "E:" + x->remote.service.meta.name + ":" +
           std::to_string(x->remote.service.ports[0].port);
  if (const auto* u = std::get_if<ServiceUnexported>(&e)) return "U:" + u->name;
  if (std::holds_alternative<Synced>(e)) return "S";
  if (const auto* g = std::get_if<GatewayHealthChanged>(&e))
    return std::string("G:") + (g->alive ? "up" : "down");
  if (std::holds_alternative<LinkRemoved>(e)) return "X";
  return "R";
}

std::vector<std::string> drain_names(EventQueue& q) {
  std::vector<std::string> out;
  while (auto w = q.pop()) out.push_back(name_of(*w));
  return out;
}

TEST(LinkEventQueueTest, NewestWorkPerKeyInEventOrder) {
  EventQueue q(100);
  auto web2 = exported_event("web");
  web2.remote.service.ports[0].port = 81;
  EXPECT_TRUE(q.push(LinkEvent{exported_event("web")}).schedule);
  EXPECT_EQ(q.push(LinkEvent{Synced{}}).outcome, EventQueue::Outcome::kQueued);
  EXPECT_FALSE(q.push(LinkEvent{exported_event("cart")}).schedule);  // a drain is pending
  EXPECT_EQ(q.push(LinkEvent{GatewayHealthChanged{false}}).outcome, EventQueue::Outcome::kQueued);
  // Same service: replaced where it was. Synced: moved behind everything before it.
  EXPECT_EQ(q.push(LinkEvent{web2}).outcome, EventQueue::Outcome::kCoalesced);
  EXPECT_EQ(q.push(LinkEvent{Synced{}}).outcome, EventQueue::Outcome::kCoalesced);
  EXPECT_EQ(q.push(LinkEvent{GatewayHealthChanged{true}}).outcome, EventQueue::Outcome::kCoalesced);
  EXPECT_EQ(q.push(LinkEvent{ServiceUnexported{"shop", "cart"}}).outcome,
            EventQueue::Outcome::kCoalesced);
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(drain_names(q), (std::vector<std::string>{"E:web:81", "U:cart", "G:up", "S"}));
  // Empty: the drain ended, the next push schedules one.
  EXPECT_TRUE(q.push(LinkEvent{Synced{}}).schedule);
}

TEST(LinkEventQueueTest, FullQueueDropsNewServicesOnlyAndSaysSo) {
  EventQueue q(2);
  q.push(LinkEvent{exported_event("a")});
  q.push(LinkEvent{exported_event("b")});
  EXPECT_EQ(q.push(LinkEvent{exported_event("c")}).outcome, EventQueue::Outcome::kDropped);
  EXPECT_EQ(q.push(LinkEvent{ServiceUnexported{"shop", "d"}}).outcome,
            EventQueue::Outcome::kDropped);
  // Known keys still coalesce; fixed keys and LinkRemoved are always taken.
  EXPECT_EQ(q.push(LinkEvent{ServiceUnexported{"shop", "a"}}).outcome,
            EventQueue::Outcome::kCoalesced);
  EXPECT_EQ(q.push(LinkEvent{GatewayHealthChanged{false}}).outcome, EventQueue::Outcome::kQueued);
  EXPECT_EQ(q.push(LinkEvent{LinkRemoved{}}).outcome, EventQueue::Outcome::kQueued);
  EXPECT_EQ(q.push(LinkEvent{LinkRemoved{}}).outcome, EventQueue::Outcome::kQueued);
  EXPECT_TRUE(q.take_overflow());
  EXPECT_FALSE(q.take_overflow());
  EXPECT_EQ(drain_names(q), (std::vector<std::string>{"U:a", "E:b:80", "G:down", "X", "X"}));
  // Room again.
  EXPECT_EQ(q.push(LinkEvent{exported_event("c")}).outcome, EventQueue::Outcome::kQueued);
}

// --- LinkWriter and StoreWorker ------------------------------------------------------------

class LinkWriterTest : public ::testing::Test {
 protected:
  LinkWriterTest() { store_.put_local_service("shop", "frontend"); }
  metrics::Registry registry_;
  LinkMetrics metrics_{registry_};
  BlockingStore store_;
  StoreWorker worker_;
};

TEST_F(LinkWriterTest, OverflowDropsCountsAndAsksForAResyncOnceDrained) {
  std::atomic<int> resyncs{0};
  auto writer =
      LinkWriter::make(worker_, testing::east_test_link(), "west", store_, nullptr, metrics_,
                       {.retry = {}, .max_queued_services = 2}, [&] { ++resyncs; });
  store_.block();
  writer->post(LinkEvent{exported_event("a")});
  ASSERT_TRUE(eventually([&] { return store_.waiting() == 1; }));  // `a` is in the store call
  EXPECT_EQ(writer->post(LinkEvent{exported_event("b")}), EventQueue::Outcome::kQueued);
  EXPECT_EQ(writer->post(LinkEvent{exported_event("c")}), EventQueue::Outcome::kQueued);
  EXPECT_EQ(writer->post(LinkEvent{exported_event("d")}), EventQueue::Outcome::kDropped);
  EXPECT_EQ(writer->snapshot().mirror_count, 0u);
  store_.unblock();
  ASSERT_TRUE(worker_.wait_idle(10s));
  EXPECT_EQ(resyncs.load(), 1);
  EXPECT_TRUE(store_.has_service("shop", "c-east"));
  EXPECT_FALSE(store_.has_service("shop", "d-east"));
  EXPECT_EQ(writer->snapshot().mirror_count, 3u);
  EXPECT_EQ(writer->snapshot().queued, 0u);
  auto text = registry_.expose();
  EXPECT_NE(text.find("link_events_dropped_total{target_cluster=\"east\",reason=\"queue_full\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("link_mirrors{target_cluster=\"east\"} 3"), std::string::npos) << text;
  worker_.post([w = std::move(writer)]() mutable { w.reset(); });
}

TEST_F(LinkWriterTest, ShutdownDrainsWhatIsQueued) {
  auto writer = LinkWriter::make(worker_, testing::east_test_link(), "west", store_, nullptr,
                                 metrics_, {}, {});
  store_.block();
  for (auto n : {"a", "b", "c"}) writer->post(LinkEvent{exported_event(n)});
  ASSERT_TRUE(eventually([&] { return store_.waiting() == 1; }));
  // The controller answers again while the shutdown waits.
  std::thread release([&] {
    eventually([&] { return store_.waiting() == 1; });
    store_.unblock();
  });
  EXPECT_TRUE(worker_.shutdown(10s));
  release.join();
  for (auto n : {"a-east", "b-east", "c-east"}) EXPECT_TRUE(store_.has_service("shop", n)) << n;
  const auto log = store_.log();
  EXPECT_LT(index_of(log, "apply Service shop/a-east port=80"),
            index_of(log, "apply Service shop/b-east port=80"));
  EXPECT_LT(index_of(log, "apply Service shop/b-east port=80"),
            index_of(log, "apply Service shop/c-east port=80"));
}

TEST_F(LinkWriterTest, ShutdownGivesUpAfterItsDeadline) {
  auto writer = LinkWriter::make(worker_, testing::east_test_link(), "west", store_, nullptr,
                                 metrics_, {}, {});
  store_.block(1000ms);  // each call then fails as a gRPC deadline would
  for (auto n : {"a", "b", "c"}) writer->post(LinkEvent{exported_event(n)});
  ASSERT_TRUE(eventually([&] { return store_.waiting() == 1; }));
  const auto started = Clock::now();
  EXPECT_FALSE(worker_.shutdown(200ms));
  // Back once the call in progress has hit its own deadline; the rest was abandoned.
  EXPECT_LT(Clock::now() - started, 3s);
  EXPECT_EQ(store_.waiting(), 0);
  store_.unblock();
  EXPECT_FALSE(store_.has_service("shop", "b-east"));
  EXPECT_FALSE(store_.has_service("shop", "c-east"));
}

// --- A watcher whose store blocks ----------------------------------------------------------

class LinkStoreBlockedTest : public ::testing::Test {
 protected:
  static constexpr auto kPeriod = 100ms;
  static constexpr std::uint32_t kThreshold = 3;

  LinkStoreBlockedTest()
      : east_("east.strait"),
        gateway_(east_.credentials("strait-multicluster", "strait-gateway"), east_.bundle) {
    store_.put_local_service("shop", "frontend");
  }

  void SetUp() override {
    ASSERT_TRUE(gateway_.start());
    // The link credential as a previous run left it: no token exchange needed.
    auto creds = east_.credentials("strait-multicluster", "link-west");
    std::filesystem::create_directories(dir_.path() / "east");
    ASSERT_TRUE(
        controlplane::write_file_atomic(dir_.path() / "east" / "key.pem", creds.key.to_pem()));
    std::vector<tls::Certificate> chain{creds.leaf};
    chain.insert(chain.end(), creds.chain.begin(), creds.chain.end());
    ASSERT_TRUE(
        controlplane::write_file_atomic(dir_.path() / "east" / "cert.pem", tls::to_pem(chain)));

    discovery::Link l = testing::east_test_link();
    l.gateway_addresses = {"127.0.0.1"};
    l.trust_bundle_pem = east_.root.cert().to_pem();
    l.export_address = "127.0.0.1:1";  // nothing there: the stream keeps reconnecting
    l.identity_address = "127.0.0.1:1";
    l.probe.port = gateway_.port();
    l.probe.path = "/ready";
    l.probe.period = kPeriod;
    l.probe.timeout = 300ms;
    l.probe.failure_threshold = kThreshold;
    watcher_ = std::make_unique<LinkWatcher>(io_.get_executor(), blocking_.get_executor(), worker_,
                                             l, "west", dir_.path() / "east", store_, nullptr,
                                             metrics_, WatcherOptions{});
    io_thread_ = std::thread([this] { io_.run(); });
    on_io([this] { watcher_->start(); });
  }

  void TearDown() override {
    store_.unblock();
    on_io([this] {
      watcher_->stop();
      watcher_.reset();
    });
    guard_.reset();
    io_.stop();
    io_thread_.join();
  }

  // Runs `f` on the I/O thread and waits for it: a thread stuck on the store would time out.
  template <typename F>
  auto on_io(F f, std::chrono::milliseconds deadline = 2s) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto done = task.get_future();
    asio::post(io_, [&task] { task(); });
    if (done.wait_for(deadline) != std::future_status::ready) {
      ADD_FAILURE() << "the I/O thread did not answer within " << deadline.count() << " ms";
      std::abort();  // `task` is still referenced by the queued handler
    }
    return done.get();
  }
  boost::json::object status() {
    return on_io([this] { return watcher_->status(); });
  }
  std::string metric(const std::string& series) {
    auto text = registry_.expose();
    auto at = text.find(series + " ");
    if (at == std::string::npos) return "";
    auto end = text.find('\n', at);
    return text.substr(at + series.size() + 1, end - at - series.size() - 1);
  }
  void feed(ev::ExportEvent e) {
    on_io([this, e = std::move(e)]() mutable { watcher_->on_export(std::move(e)); });
  }

  tls::testing::Cluster east_;
  testing::TestHttpsServer gateway_;
  controlplane::testing::TempDir dir_;
  metrics::Registry registry_;
  LinkMetrics metrics_{registry_};
  BlockingStore store_;
  StoreWorker worker_;
  asio::io_context io_;  // before the pool whose jobs post to it
  asio::thread_pool blocking_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
  std::unique_ptr<LinkWatcher> watcher_;
  std::thread io_thread_;
};

TEST_F(LinkStoreBlockedTest, ProbesKeepTheirTimingAndQueuedWritesLandInOrder) {
  const std::string alive = "gateway_alive{target_cluster=\"east\"}";
  // Credentials from disk, the probe running and succeeding.
  ASSERT_TRUE(eventually([&] {
    auto s = status();
    return s.at("credentials").at("valid").as_bool() &&
           s.at("gateway").at("probe").at("successes").as_uint64() > 0;
  })) << status();
  feed(exported("web"));
  feed(synced());
  ASSERT_TRUE(eventually([&] { return store_.readiness("shop", "web-east") == "R"; }));
  ASSERT_TRUE(eventually([&] { return status().at("synced").as_bool(); }));

  // The local controller stalls. The next export change is taken by the store thread, which
  // then sits in its store call; two more services arrive behind it.
  store_.block();
  const auto blocked_at = Clock::now();
  feed(exported("web", 81));
  ASSERT_TRUE(eventually([&] { return store_.waiting() == 1; }));
  feed(exported("cart"));
  feed(exported("api"));
  const auto writes_before = store_.log().size();

  // The gateway goes away: the probe sees it on time although the store is stuck.
  const auto probe_port = gateway_.port();
  gateway_.stop();
  const auto stopped_at = Clock::now();
  const auto expected = kPeriod * kThreshold * 11 / 10 + 1000ms;  // + jitter, margin
  ASSERT_TRUE(eventually([&] { return metric(alive) == "0"; }, expected))
      << "gateway_alive still " << metric(alive) << " after " << expected.count() << " ms";
  const auto flipped_after =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stopped_at);
  EXPECT_LE(flipped_after, expected);

  // Still blocked: nothing written, the status answers from the I/O thread and shows the queue.
  EXPECT_EQ(store_.waiting(), 1);
  EXPECT_EQ(store_.log().size(), writes_before);
  auto s = status();
  EXPECT_FALSE(s.at("gateway").at("alive").as_bool()) << s;
  EXPECT_TRUE(s.at("gateway").at("mirrors_alive").as_bool()) << s;  // not applied yet
  EXPECT_EQ(s.at("queued_events").as_uint64(), 3u) << s;            // cart, api, gateway
  EXPECT_GE(s.at("gateway").at("probe").at("failures_in_a_row").as_uint64(), kThreshold);
  // The store stays stuck for about 5 s; the probe keeps its period all along (45 rounds take
  // 4.05 to 4.95 s with the jitter) and the admin side keeps answering.
  const auto failures = s.at("gateway").at("probe").at("failures").as_uint64();
  const auto rounds_from = Clock::now();
  ASSERT_TRUE(eventually(
      [&] {
        return status().at("gateway").at("probe").at("failures").as_uint64() >= failures + 45;
      },
      kPeriod * 45 * 11 / 10 + 1500ms));
  EXPECT_GE(Clock::now() - rounds_from, kPeriod * 45 * 9 / 10 - 150ms);
  EXPECT_EQ(store_.waiting(), 1);
  EXPECT_EQ(store_.log().size(), writes_before);

  // The controller answers again: the queued work lands, in event order.
  store_.unblock();
  const auto blocked_for = Clock::now() - blocked_at;
  ASSERT_TRUE(eventually([&] {
    return store_.readiness("shop", "web-east") == "-" &&
           store_.readiness("shop", "cart-east") == "-" &&
           store_.readiness("shop", "api-east") == "-";
  })) << ::testing::PrintToString(store_.log());
  const auto log = store_.log();
  const auto web81 = index_of(log, "apply Service shop/web-east port=81");
  const auto cart = index_of(log, "apply Service shop/cart-east port=80");
  const auto api = index_of(log, "apply Service shop/api-east port=80");
  ASSERT_LT(web81, log.size()) << ::testing::PrintToString(log);
  EXPECT_LT(web81, cart) << ::testing::PrintToString(log);
  EXPECT_LT(cart, api) << ::testing::PrintToString(log);
  // The gateway's death came last and made every gateway mirror not ready, after the services.
  std::size_t first_not_ready = log.size();
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (log[i].ends_with(" not_ready")) {
      first_not_ready = i;
      break;
    }
  }
  EXPECT_LT(api, first_not_ready) << ::testing::PrintToString(log);
  ASSERT_TRUE(eventually([&] {
    auto st = status();
    return st.at("queued_events").as_uint64() == 0 &&
           !st.at("gateway").at("mirrors_alive").as_bool();
  }));
  EXPECT_EQ(metric("link_events_total{target_cluster=\"east\",event=\"gateway_health\"}"), "1");
  EXPECT_EQ(metric("link_mirrors{target_cluster=\"east\"}"), "3");

  // The gateway comes back: one good round, and the mirrors are ready again.
  ASSERT_TRUE(gateway_.start(probe_port));
  const auto restarted_at = Clock::now();
  const auto back_within = kPeriod * 11 / 10 + 1000ms;
  ASSERT_TRUE(eventually([&] { return metric(alive) == "1"; }, back_within));
  EXPECT_LE(Clock::now() - restarted_at, back_within);
  ASSERT_TRUE(eventually([&] {
    return store_.readiness("shop", "web-east") == "R" &&
           store_.readiness("shop", "cart-east") == "R" &&
           store_.readiness("shop", "api-east") == "R";
  }));
  RecordProperty(
      "store_blocked_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(blocked_for).count()));
  RecordProperty("gateway_alive_flip_ms", static_cast<int>(flipped_after.count()));
}

}  // namespace
}  // namespace strait::link
