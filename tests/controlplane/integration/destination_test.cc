// Destination streams against the real controller: objects applied through the admin API turn
// into add / remove / no-endpoints updates for service names and virtual IPs.
#include <gtest/gtest.h>

#include "tests/controlplane/integration/controller_process.h"
#include "tests/controlplane/integration/destination_watch.h"
#include "tests/controlplane/integration/test_objects.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;
using discovery::Kind;
namespace dst = destination::v1;

class DestinationIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    auto i = c_.install();
    ASSERT_TRUE(i) << i.error().to_string();
    auto s = c_.start();
    ASSERT_TRUE(s) << s.error().to_string();
    channel_ = c_.channel(c_.admin_credentials());
  }

  ControllerProcess c_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(DestinationIntegration, StreamsEndpointsOfAServiceAsTheyChange) {
  auto applied = c_.apply({service("shop", "web", 80, 8080)});
  ASSERT_TRUE(applied) << applied.error().to_string();

  DestinationWatch w(channel_, "web.shop.svc.cluster.local:80");
  auto first = w.reader().next(10s);
  ASSERT_TRUE(first) << "no first update";
  ASSERT_TRUE(first->has_no_endpoints()) << describe(*first);
  EXPECT_TRUE(first->no_endpoints().exists());

  ASSERT_TRUE(c_.apply({endpoint("shop", "web-1", "web", "10.0.0.1", 8080, {{"pod", "web-1"}})}));
  ASSERT_TRUE(c_.apply({endpoint("shop", "web-2", "web", "10.0.0.2", 8080)}));
  // An endpoint of another service, and one on another port, are not part of this answer.
  ASSERT_TRUE(
      c_.apply({service("shop", "api", 80), endpoint("shop", "api-1", "api", "10.0.1.1", 80),
                endpoint("shop", "web-admin", "web", "10.0.0.9", 9000)}));
  ASSERT_TRUE(w.wait_for_addrs({"10.0.0.1:8080", "10.0.0.2:8080"}, 10s)) << w.history();
  const auto& a1 = w.addrs().at("10.0.0.1:8080");
  EXPECT_EQ(a1.metric_labels().at("endpoint"), "web-1");
  EXPECT_EQ(a1.metric_labels().at("pod"), "web-1");
  EXPECT_EQ(a1.cluster(), "east");
  EXPECT_EQ(w.set_labels().at("service"), "web");
  EXPECT_EQ(w.set_labels().at("namespace"), "shop");

  ASSERT_TRUE(c_.remove(Kind::kEndpoint, "shop", "web-1"));
  auto removed = w.reader().next(10s);
  ASSERT_TRUE(removed) << w.history();
  ASSERT_TRUE(removed->has_remove()) << describe(*removed) << "\n" << w.history();
  ASSERT_EQ(removed->remove().addrs_size(), 1);
  EXPECT_EQ(addr_text(removed->remove().addrs(0)), "10.0.0.1:8080");
  w.take(*removed);

  // The same service by its virtual IP, read back from the admin API.
  auto services = c_.list(Kind::kService, "shop");
  ASSERT_TRUE(services) << services.error().to_string();
  std::string vip;
  for (const auto& o : *services) {
    const auto& s = std::get<discovery::Service>(o);
    if (s.meta.name == "web") vip = s.cluster_ip;
  }
  ASSERT_FALSE(vip.empty());
  DestinationWatch by_ip(channel_, vip + ":80");
  ASSERT_TRUE(by_ip.wait_for_addrs({"10.0.0.2:8080"}, 10s)) << by_ip.history();

  // The last endpoint goes: both streams are told there is nothing, but the service exists.
  ASSERT_TRUE(c_.remove(Kind::kEndpoint, "shop", "web-2"));
  for (auto* watch : {&w, &by_ip}) {
    SCOPED_TRACE(watch == &w ? "by name" : "by virtual IP");
    auto none = watch->reader().next(10s);
    ASSERT_TRUE(none) << watch->history();
    ASSERT_TRUE(none->has_no_endpoints()) << describe(*none) << " after:\n" << watch->history();
    EXPECT_TRUE(none->no_endpoints().exists());
  }
}

TEST_F(DestinationIntegration, UnknownServiceHasNoEndpointsAndDoesNotExist) {
  DestinationWatch w(channel_, "nothing.shop.svc.cluster.local:80");
  auto first = w.reader().next(10s);
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->has_no_endpoints()) << describe(*first);
  EXPECT_FALSE(first->no_endpoints().exists());

  // Once the service is created the stream is told that it exists now.
  ASSERT_TRUE(c_.apply({service("shop", "nothing", 80)}));
  auto created = w.reader().next(10s);
  ASSERT_TRUE(created) << "no update when the service appeared";
  ASSERT_TRUE(created->has_no_endpoints()) << describe(*created);
  EXPECT_TRUE(created->no_endpoints().exists());

  DestinationWatch unknown_ip(channel_, "198.19.15.250:80");
  auto by_ip = unknown_ip.reader().next(10s);
  ASSERT_TRUE(by_ip);
  ASSERT_TRUE(by_ip->has_no_endpoints()) << describe(*by_ip);
  EXPECT_FALSE(by_ip->no_endpoints().exists());

  // A path without a port is refused, not left hanging.
  DestinationWatch bad(channel_, "web.shop.svc.cluster.local");
  auto status = bad.reader().wait_finished(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status->error_message();
}

TEST_F(DestinationIntegration, AnUnrelatedChangeSendsNothing) {
  // Endpoints carry a protobuf map (metric_labels) whose serialization order is not fixed:
  // comparing serializations once made every refresh send a spurious remove + add.
  ASSERT_TRUE(c_.apply({service("shop", "web", 80, 8080)}));
  discovery::Labels labels;
  for (int i = 0; i < 16; ++i) labels["label-" + std::to_string(i)] = "value-" + std::to_string(i);
  ASSERT_TRUE(c_.apply({endpoint("shop", "web-1", "web", "10.0.0.1", 8080, labels)}));
  DestinationWatch w(channel_, "web.shop.svc.cluster.local:80");
  ASSERT_TRUE(w.wait_for_addrs({"10.0.0.1:8080"}, 10s)) << w.history();
  EXPECT_EQ(w.addrs().at("10.0.0.1:8080").metric_labels().at("label-7"), "value-7");
  const auto before = w.updates();

  // Other services come and go; this one does not change.
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(c_.apply({service("shop", "other-" + std::to_string(i), 80)}));
  // A marker change on this service, so that everything before it has been delivered.
  ASSERT_TRUE(c_.apply({endpoint("shop", "web-2", "web", "10.0.0.2", 8080)}));
  ASSERT_TRUE(w.wait_for_addrs({"10.0.0.1:8080", "10.0.0.2:8080"}, 10s)) << w.history();
  EXPECT_EQ(w.updates(), before + 1) << "expected only the add of web-2:\n" << w.history();
}

}  // namespace
}  // namespace strait::controlplane::testing
