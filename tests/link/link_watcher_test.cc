// The stream adapter of LinkWatcher: export messages become typed events; after a reconnect,
// the new snapshot's Synced unexports what it no longer contains; bad JSON is skipped. The
// handlers run on the StoreWorker thread: each check waits for it to be idle first.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "core/discovery/json_codec.h"
#include "link/link_watcher.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/link/fake_store.h"

namespace strait::link {
namespace {
namespace ev = exports::v1;

ev::ExportEvent exported(const std::string& name) {
  discovery::Service s;
  s.meta.cluster = "east";
  s.meta.ns = "shop";
  s.meta.name = name;
  s.meta.labels = {{"mirror.strait.dev/exported", "true"}};
  s.ports.push_back({.name = "http", .port = 80});
  discovery::Endpoint e;
  e.meta.cluster = "east";
  e.meta.ns = "shop";
  e.meta.name = name + "-1";
  e.service = name;
  e.address = "10.1.0.1";
  e.port = 8080;
  ev::ExportEvent out;
  out.mutable_exported()->set_service_json(boost::json::serialize(discovery::object_to_json(s)));
  out.mutable_exported()->add_endpoints_json(boost::json::serialize(discovery::object_to_json(e)));
  return out;
}

ev::ExportEvent synced() {
  ev::ExportEvent e;
  e.mutable_synced();
  return e;
}

class LinkWatcherTest : public ::testing::Test {
 protected:
  LinkWatcherTest() { store_.put_local_service("shop", "frontend"); }
  boost::asio::io_context io_;
  metrics::Registry registry_;
  LinkMetrics metrics_{registry_};
  void settle() { ASSERT_TRUE(worker_.wait_idle(std::chrono::seconds(10))); }

  testing::FakeStore store_;
  controlplane::testing::TempDir dir_;
  StoreWorker worker_;  // after the store it calls, before the watcher that posts to it
  LinkWatcher watcher_{io_.get_executor(),
                       io_.get_executor(),
                       worker_,
                       testing::east_test_link(),
                       "west",
                       dir_.path() / "east",
                       store_,
                       nullptr,
                       metrics_,
                       WatcherOptions{}};
};

TEST_F(LinkWatcherTest, ExportMessagesBecomeMirrors) {
  watcher_.on_stream_state(true, grpc::Status::OK);
  watcher_.on_export(exported("web"));
  watcher_.on_export(synced());
  settle();
  EXPECT_NE(store_.service("shop", "web-east"), nullptr);
  EXPECT_TRUE(watcher_.synced());
  ev::ExportEvent gone;
  gone.mutable_unexported()->set_namespace_("shop");
  gone.mutable_unexported()->set_name("web");
  watcher_.on_export(gone);
  settle();
  EXPECT_EQ(store_.service("shop", "web-east"), nullptr);
  auto text = registry_.expose();
  EXPECT_NE(text.find("link_events_total{target_cluster=\"east\",event=\"service_exported\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("link_events_total{target_cluster=\"east\",event=\"service_unexported\"} 1"),
            std::string::npos);
}

TEST_F(LinkWatcherTest, SnapshotAfterReconnectUnexportsWhatItLacks) {
  watcher_.on_stream_state(true, grpc::Status::OK);
  watcher_.on_export(exported("web"));
  watcher_.on_export(exported("cart"));
  watcher_.on_export(synced());
  settle();
  ASSERT_NE(store_.service("shop", "cart-east"), nullptr);
  watcher_.on_stream_state(false, grpc::Status(grpc::StatusCode::UNAVAILABLE, "target restarting"));
  // cart was unexported while the stream was down: the new snapshot lacks it.
  watcher_.on_stream_state(true, grpc::Status::OK);
  watcher_.on_export(exported("web"));
  settle();
  EXPECT_NE(store_.service("shop", "cart-east"), nullptr);  // not before Synced
  watcher_.on_export(synced());
  settle();
  EXPECT_EQ(store_.service("shop", "cart-east"), nullptr);
  EXPECT_NE(store_.service("shop", "web-east"), nullptr);
  EXPECT_EQ(watcher_.status().at("last_error").as_string(), "export stream: target restarting");
}

TEST_F(LinkWatcherTest, MalformedExportsAreSkipped) {
  ev::ExportEvent bad;
  bad.mutable_exported()->set_service_json("{not json");
  watcher_.on_export(bad);
  settle();
  EXPECT_EQ(store_.size(), 1u);  // only the local service
}

}  // namespace
}  // namespace strait::link
