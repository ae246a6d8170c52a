// DestinationIndex: store events fed by hand, the updates each subscription receives.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/destination/destination_index.h"

namespace strait::controlplane {
namespace {

namespace dst = destination::v1;
using discovery::Endpoint;
using discovery::Event;
using discovery::Service;
using discovery::ServicePort;

constexpr const char* kWeb = "web.shop.svc.cluster.local:80";

std::string key_of(const dst::TcpAddress& a) {
  return (a.ip().find(':') != std::string::npos ? "[" + a.ip() + "]" : a.ip()) + ":" +
         std::to_string(a.port());
}

// What a subscriber receives, and the endpoint set it believes in after applying it.
struct Recorder {
  std::vector<dst::Update> updates;
  std::map<std::string, dst::WeightedAddr> view;
  std::optional<bool> no_endpoints_exists;  // set by the last NoEndpoints, cleared by an add
  bool accept = true;
  int calls = 0;

  DestinationIndex::Sink sink() {
    return [this](dst::Update u) {
      ++calls;
      apply(u);
      updates.push_back(std::move(u));
      return accept;
    };
  }

  void apply(const dst::Update& u) {
    if (u.has_add()) {
      EXPECT_GT(u.add().addrs_size(), 0) << "empty add";
      for (const auto& a : u.add().addrs()) view[key_of(a.addr())] = a;
      no_endpoints_exists.reset();
    } else if (u.has_remove()) {
      EXPECT_GT(u.remove().addrs_size(), 0) << "empty remove";
      for (const auto& a : u.remove().addrs()) {
        EXPECT_EQ(view.erase(key_of(a)), 1u) << "removed an address never added: " << key_of(a);
      }
    } else if (u.has_no_endpoints()) {
      view.clear();
      no_endpoints_exists = u.no_endpoints().exists();
    } else {
      ADD_FAILURE() << "update with nothing set";
    }
  }

  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : view) out.push_back(k);
    return out;
  }
  const dst::Update& last() const {
    EXPECT_FALSE(updates.empty());
    return updates.back();
  }
  void clear() { updates.clear(); }
};

Service service(std::string ns, std::string name, std::string cluster_ip = "",
                std::vector<ServicePort> ports = {{"http", 80, 0, {}}}) {
  Service s;
  s.meta.cluster = "west";
  s.meta.ns = std::move(ns);
  s.meta.name = std::move(name);
  s.cluster_ip = std::move(cluster_ip);
  s.ports = std::move(ports);
  return s;
}

Endpoint endpoint(std::string ns, std::string name, std::string svc, std::string ip,
                  std::uint16_t port = 80, std::string identity = "") {
  Endpoint e;
  e.meta.cluster = "west";
  e.meta.ns = std::move(ns);
  e.meta.name = std::move(name);
  e.service = std::move(svc);
  e.address = std::move(ip);
  e.port = port;
  e.identity = std::move(identity);
  return e;
}

Event added(discovery::Object o) { return Event{Event::Type::kAdded, std::move(o)}; }
Event modified(discovery::Object o) { return Event{Event::Type::kModified, std::move(o)}; }
Event deleted(discovery::Object o) { return Event{Event::Type::kDeleted, std::move(o)}; }

class DestinationIndexTest : public ::testing::Test {
 protected:
  DestinationIndex index_{DestinationIndex::Settings{"west", "cluster.local", 4143}};

  std::uint64_t subscribe(Recorder& r, std::string_view path) {
    std::uint64_t id = index_.reserve_id();
    auto res = index_.subscribe(id, path, r.sink());
    EXPECT_TRUE(res.ok()) << (res.ok() ? "" : res.error().to_string());
    return id;
  }
};

TEST_F(DestinationIndexTest, UnknownServiceGetsNoEndpointsThatDoNotExist) {
  Recorder r;
  subscribe(r, kWeb);
  ASSERT_EQ(r.updates.size(), 1u);
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_FALSE(r.last().no_endpoints().exists());
}

TEST_F(DestinationIndexTest, NameOutsideTheClusterGetsNoEndpointsThatDoNotExist) {
  Recorder r;
  subscribe(r, "example.com:443");
  ASSERT_EQ(r.updates.size(), 1u);
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_FALSE(r.last().no_endpoints().exists());
}

TEST_F(DestinationIndexTest, KnownServiceWithoutEndpointsGetsNoEndpointsThatExist) {
  index_.apply(added(service("shop", "web")));
  Recorder r;
  subscribe(r, kWeb);
  ASSERT_EQ(r.updates.size(), 1u);
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_TRUE(r.last().no_endpoints().exists());
}

TEST_F(DestinationIndexTest, InvalidPathIsRefusedAndNotKept) {
  Recorder r;
  auto res = index_.subscribe(index_.reserve_id(), "web.shop.svc.cluster.local", r.sink());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, "invalid_path");
  EXPECT_EQ(r.calls, 0);
  EXPECT_EQ(index_.subscriptions(), 0u);
}

TEST_F(DestinationIndexTest, ExistingEndpointsArriveInTheFirstAddWithMetricLabels) {
  index_.apply(added(service("shop", "web")));
  index_.apply(added(endpoint("shop", "web-1", "web", "10.1.0.1")));
  index_.apply(added(endpoint("shop", "web-2", "web", "10.1.0.2")));
  Recorder r;
  subscribe(r, kWeb);
  ASSERT_EQ(r.updates.size(), 1u);
  ASSERT_TRUE(r.last().has_add());
  const auto& set = r.last().add();
  EXPECT_EQ(set.addrs_size(), 2);
  EXPECT_EQ(set.metric_labels().at("namespace"), "shop");
  EXPECT_EQ(set.metric_labels().at("service"), "web");
  EXPECT_EQ(set.metric_labels().at("cluster"), "west");
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"10.1.0.1:80", "10.1.0.2:80"}));
  const auto& a = r.view.at("10.1.0.1:80");
  EXPECT_EQ(a.weight(), 10000u);
  EXPECT_EQ(a.cluster(), "west");
  EXPECT_EQ(a.metric_labels().at("endpoint"), "web-1");
}

TEST_F(DestinationIndexTest, EndpointsAddedLaterArriveAsAdd) {
  index_.apply(added(service("shop", "web")));
  Recorder r;
  subscribe(r, kWeb);
  r.clear();

  index_.apply(added(endpoint("shop", "web-1", "web", "10.1.0.1")));
  ASSERT_EQ(r.updates.size(), 1u);
  ASSERT_TRUE(r.last().has_add());
  ASSERT_EQ(r.last().add().addrs_size(), 1);
  EXPECT_EQ(r.last().add().addrs(0).addr().ip(), "10.1.0.1");
  EXPECT_EQ(r.last().add().addrs(0).addr().port(), 80u);
  EXPECT_EQ(r.last().add().metric_labels().at("namespace"), "shop");
  EXPECT_EQ(r.last().add().metric_labels().at("service"), "web");
  EXPECT_EQ(r.last().add().metric_labels().at("cluster"), "west");

  index_.apply(added(endpoint("shop", "web-2", "web", "10.1.0.2")));
  ASSERT_EQ(r.updates.size(), 2u);
  ASSERT_TRUE(r.last().has_add());
  ASSERT_EQ(r.last().add().addrs_size(), 1);  // only the new one
  EXPECT_EQ(r.last().add().addrs(0).addr().ip(), "10.1.0.2");
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"10.1.0.1:80", "10.1.0.2:80"}));
}

TEST_F(DestinationIndexTest, RemovalsArriveAsRemoveAndTheLastAsNoEndpoints) {
  index_.apply(added(service("shop", "web")));
  auto e1 = endpoint("shop", "web-1", "web", "10.1.0.1");
  auto e2 = endpoint("shop", "web-2", "web", "10.1.0.2");
  index_.apply(added(e1));
  index_.apply(added(e2));
  Recorder r;
  subscribe(r, kWeb);
  r.clear();

  index_.apply(deleted(e1));
  ASSERT_EQ(r.updates.size(), 1u);
  ASSERT_TRUE(r.last().has_remove());
  ASSERT_EQ(r.last().remove().addrs_size(), 1);
  EXPECT_EQ(r.last().remove().addrs(0).ip(), "10.1.0.1");
  EXPECT_EQ(r.last().remove().addrs(0).port(), 80u);
  EXPECT_EQ(r.keys(), std::vector<std::string>{"10.1.0.2:80"});

  index_.apply(deleted(e2));
  ASSERT_EQ(r.updates.size(), 2u);
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_TRUE(r.last().no_endpoints().exists());
  EXPECT_TRUE(r.view.empty());

  // And back.
  index_.apply(added(e1));
  ASSERT_EQ(r.updates.size(), 3u);
  ASSERT_TRUE(r.last().has_add());
  EXPECT_EQ(r.keys(), std::vector<std::string>{"10.1.0.1:80"});
}

TEST_F(DestinationIndexTest, NotReadyEndpointsAreNotSent) {
  index_.apply(added(service("shop", "web")));
  auto e1 = endpoint("shop", "web-1", "web", "10.1.0.1");
  auto e2 = endpoint("shop", "web-2", "web", "10.1.0.2");
  e2.ready = false;
  index_.apply(added(e1));
  index_.apply(added(e2));
  Recorder r;
  subscribe(r, kWeb);
  EXPECT_EQ(r.keys(), std::vector<std::string>{"10.1.0.1:80"});
  r.clear();

  // Becoming ready: added.
  e2.ready = true;
  index_.apply(modified(e2));
  ASSERT_EQ(r.updates.size(), 1u);
  ASSERT_TRUE(r.last().has_add());
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"10.1.0.1:80", "10.1.0.2:80"}));

  // Turning not ready: removed.
  e1.ready = false;
  index_.apply(modified(e1));
  ASSERT_EQ(r.updates.size(), 2u);
  ASSERT_TRUE(r.last().has_remove());
  ASSERT_EQ(r.last().remove().addrs_size(), 1);
  EXPECT_EQ(r.last().remove().addrs(0).ip(), "10.1.0.1");
  EXPECT_EQ(r.keys(), std::vector<std::string>{"10.1.0.2:80"});

  // The last ready one turning not ready: no endpoints, but the service exists.
  e2.ready = false;
  index_.apply(modified(e2));
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_TRUE(r.last().no_endpoints().exists());
  EXPECT_TRUE(r.view.empty());
}

TEST_F(DestinationIndexTest, OnlyNotReadyEndpointsMeansNoEndpoints) {
  index_.apply(added(service("shop", "web")));
  auto e = endpoint("shop", "web-1", "web", "10.1.0.1");
  e.ready = false;
  index_.apply(added(e));
  Recorder r;
  subscribe(r, kWeb);
  ASSERT_EQ(r.updates.size(), 1u);
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_TRUE(r.last().no_endpoints().exists());
}

TEST_F(DestinationIndexTest, ServicePortMapsToTargetPort) {
  index_.apply(added(service("shop", "web", "", {{"http", 80, 8080, {}}, {"admin", 9000, 0, {}}})));
  index_.apply(added(endpoint("shop", "web-http", "web", "10.1.0.1", 8080)));
  index_.apply(added(endpoint("shop", "web-80", "web", "10.1.0.2", 80)));
  index_.apply(added(endpoint("shop", "web-admin", "web", "10.1.0.3", 9000)));

  Recorder http;
  subscribe(http, "web.shop.svc.cluster.local:80");
  EXPECT_EQ(http.keys(), std::vector<std::string>{"10.1.0.1:8080"});

  Recorder admin;  // no targetPort: the same port
  subscribe(admin, "web.shop.svc.cluster.local:9000");
  EXPECT_EQ(admin.keys(), std::vector<std::string>{"10.1.0.3:9000"});

  // A later endpoint on the target port reaches the port-80 subscription only.
  http.clear();
  admin.clear();
  index_.apply(added(endpoint("shop", "web-http-2", "web", "10.1.0.4", 8080)));
  EXPECT_EQ(http.keys(), (std::vector<std::string>{"10.1.0.1:8080", "10.1.0.4:8080"}));
  EXPECT_TRUE(admin.updates.empty());
}

// An endpoint lists its ports (as an EndpointSlice: by name, else by target port number), or
// lists none and serves every port its service declares.
TEST_F(DestinationIndexTest, AnEndpointServesTheServicePortsItListsOrEveryPort) {
  index_.apply(
      added(service("shop", "db", "",
                    {{"client", 6379, 0, {}}, {"bus", 16379, 0, {}}, {"metrics", 80, 9121, {}}})));
  Endpoint listed = endpoint("shop", "db-listed", "db", "10.1.0.1", 0);
  listed.ports = {{"", 6379}, {"metrics", 9999}};  // metrics by name (not 9121), 6379 by number
  index_.apply(added(listed));
  index_.apply(added(endpoint("shop", "db-every", "db", "10.1.0.2", 0)));  // every port

  Recorder client, bus, metrics;
  subscribe(client, "db.shop.svc.cluster.local:6379");
  subscribe(bus, "db.shop.svc.cluster.local:16379");
  subscribe(metrics, "db.shop.svc.cluster.local:80");
  EXPECT_EQ(client.keys(), (std::vector<std::string>{"10.1.0.1:6379", "10.1.0.2:6379"}));
  EXPECT_EQ(bus.keys(), std::vector<std::string>{"10.1.0.2:16379"});  // db-listed lacks it
  EXPECT_EQ(metrics.keys(), (std::vector<std::string>{"10.1.0.1:9999", "10.1.0.2:9121"}));

  // Dialed directly by a pod address: the ports it lists.
  Recorder direct, other;
  subscribe(direct, "10.1.0.1:6379");
  subscribe(other, "10.1.0.1:16379");
  EXPECT_EQ(direct.keys(), std::vector<std::string>{"10.1.0.1:6379"});
  EXPECT_TRUE(other.keys().empty());
}

TEST_F(DestinationIndexTest, LookupByClusterIp) {
  index_.apply(added(service("shop", "web", "198.19.0.7", {{"http", 80, 8080, {}}})));
  index_.apply(added(endpoint("shop", "web-1", "web", "10.1.0.1", 8080)));
  Recorder r;
  subscribe(r, "198.19.0.7:80");
  ASSERT_EQ(r.updates.size(), 1u);
  ASSERT_TRUE(r.last().has_add());
  EXPECT_EQ(r.keys(), std::vector<std::string>{"10.1.0.1:8080"});
  EXPECT_EQ(r.last().add().metric_labels().at("service"), "web");
  EXPECT_EQ(r.last().add().metric_labels().at("namespace"), "shop");

  r.clear();
  index_.apply(added(endpoint("shop", "web-2", "web", "10.1.0.2", 8080)));
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"10.1.0.1:8080", "10.1.0.2:8080"}));
}

TEST_F(DestinationIndexTest, ClusterIpSubscribedBeforeTheServiceExists) {
  Recorder r;
  subscribe(r, "198.19.0.7:80");
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_FALSE(r.last().no_endpoints().exists());

  index_.apply(added(endpoint("shop", "web-1", "web", "10.1.0.1", 80)));
  index_.apply(added(service("shop", "web", "198.19.0.7")));
  EXPECT_EQ(r.keys(), std::vector<std::string>{"10.1.0.1:80"});

  // The virtual IP moves away: the old address no longer resolves.
  index_.apply(modified(service("shop", "web", "198.19.0.8")));
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_FALSE(r.last().no_endpoints().exists());
  EXPECT_TRUE(r.view.empty());
}

TEST_F(DestinationIndexTest, LookupByPodIp) {
  index_.apply(added(service("shop", "web", "198.19.0.7")));
  auto e1 =
      endpoint("shop", "web-1", "web", "10.1.0.1", 80, "spiffe://west.example/ns/shop/sa/web");
  index_.apply(added(e1));
  index_.apply(added(endpoint("shop", "web-2", "web", "10.1.0.2", 80)));
  Recorder r;
  subscribe(r, "10.1.0.1:80");
  ASSERT_EQ(r.updates.size(), 1u);
  ASSERT_TRUE(r.last().has_add());
  EXPECT_EQ(r.keys(), std::vector<std::string>{"10.1.0.1:80"});
  EXPECT_EQ(r.view.at("10.1.0.1:80").tls_identity(), "spiffe://west.example/ns/shop/sa/web");
  EXPECT_EQ(r.last().add().metric_labels().at("namespace"), "shop");
  EXPECT_EQ(r.last().add().metric_labels().at("service"), "web");

  // Another port of the same pod is not that endpoint.
  Recorder other_port;
  subscribe(other_port, "10.1.0.1:81");
  ASSERT_TRUE(other_port.last().has_no_endpoints());
  EXPECT_FALSE(other_port.last().no_endpoints().exists());

  // The pod going away.
  index_.apply(deleted(e1));
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_TRUE(r.view.empty());
}

TEST_F(DestinationIndexTest, EndpointChangedInPlaceIsUpdated) {
  index_.apply(added(service("shop", "web")));
  auto e = endpoint("shop", "web-1", "web", "10.1.0.1");
  index_.apply(added(e));
  index_.apply(added(endpoint("shop", "web-2", "web", "10.1.0.2")));
  Recorder r;
  subscribe(r, kWeb);
  r.clear();

  e.weight = 5000;
  index_.apply(modified(e));
  ASSERT_FALSE(r.updates.empty());
  ASSERT_TRUE(r.last().has_add());  // remove+add, or add alone: the new value comes last
  EXPECT_EQ(r.view.size(), 2u);
  EXPECT_EQ(r.view.at("10.1.0.1:80").weight(), 5000u);
  EXPECT_EQ(r.view.at("10.1.0.2:80").weight(), 10000u);
  for (const auto& u : r.updates) EXPECT_FALSE(u.has_no_endpoints());

  r.clear();
  e.identity = "spiffe://west.example/ns/shop/sa/web";
  index_.apply(modified(e));
  ASSERT_FALSE(r.updates.empty());
  ASSERT_TRUE(r.last().has_add());
  EXPECT_EQ(r.view.at("10.1.0.1:80").tls_identity(), "spiffe://west.example/ns/shop/sa/web");
  EXPECT_EQ(r.view.at("10.1.0.1:80").proxy_port(), 4143u);
  EXPECT_EQ(r.view.at("10.1.0.1:80").weight(), 5000u);

  // The same endpoint re-applied unchanged sends nothing.
  r.clear();
  index_.apply(modified(e));
  EXPECT_TRUE(r.updates.empty());
}

TEST_F(DestinationIndexTest, EndpointChangingAddressIsRemovedAndAdded) {
  index_.apply(added(service("shop", "web")));
  auto e = endpoint("shop", "web-1", "web", "10.1.0.1");
  index_.apply(added(e));
  Recorder r;
  subscribe(r, kWeb);
  r.clear();
  e.address = "10.1.0.9";
  index_.apply(modified(e));
  EXPECT_EQ(r.keys(), std::vector<std::string>{"10.1.0.9:80"});
  for (const auto& u : r.updates) EXPECT_FALSE(u.has_no_endpoints());
}

TEST_F(DestinationIndexTest, ProxyPortIsTheInboundPortForMeshedEndpointsOnly) {
  index_.apply(added(service("shop", "web")));
  index_.apply(added(
      endpoint("shop", "meshed", "web", "10.1.0.1", 80, "spiffe://west.example/ns/shop/sa/web")));
  index_.apply(added(endpoint("shop", "plain", "web", "10.1.0.2", 80)));
  Recorder r;
  subscribe(r, kWeb);
  ASSERT_EQ(r.view.size(), 2u);
  EXPECT_EQ(r.view.at("10.1.0.1:80").proxy_port(), 4143u);
  EXPECT_EQ(r.view.at("10.1.0.1:80").tls_identity(), "spiffe://west.example/ns/shop/sa/web");
  EXPECT_EQ(r.view.at("10.1.0.2:80").proxy_port(), 0u);
  EXPECT_EQ(r.view.at("10.1.0.2:80").tls_identity(), "");
}

TEST(DestinationIndexSettingsTest, ProxyPortFollowsTheConfiguredInboundPort) {
  DestinationIndex index(DestinationIndex::Settings{"west", "cluster.local", 5143});
  index.apply(added(service("shop", "web")));
  index.apply(added(
      endpoint("shop", "meshed", "web", "10.1.0.1", 80, "spiffe://west.example/ns/shop/sa/web")));
  Recorder r;
  ASSERT_TRUE(index.subscribe(index.reserve_id(), kWeb, r.sink()).ok());
  ASSERT_EQ(r.view.size(), 1u);
  EXPECT_EQ(r.view.at("10.1.0.1:80").proxy_port(), 5143u);
}

TEST(DestinationIndexSettingsTest, ClusterDomainComesFromSettings) {
  DestinationIndex index(DestinationIndex::Settings{"east", "east.local", 4143});
  index.apply(added(service("shop", "web")));
  index.apply(added(endpoint("shop", "web-1", "web", "10.1.0.1")));
  Recorder in_domain, other_domain;
  ASSERT_TRUE(
      index.subscribe(index.reserve_id(), "web.shop.svc.east.local:80", in_domain.sink()).ok());
  ASSERT_TRUE(index.subscribe(index.reserve_id(), kWeb, other_domain.sink()).ok());
  EXPECT_EQ(in_domain.keys(), std::vector<std::string>{"10.1.0.1:80"});
  ASSERT_TRUE(other_domain.last().has_no_endpoints());
  EXPECT_FALSE(other_domain.last().no_endpoints().exists());
}

TEST_F(DestinationIndexTest, Ipv6EndpointsAreKeyedWithBrackets) {
  index_.apply(added(service("shop", "web")));
  auto e = endpoint("shop", "web-1", "web", "fd00::1");
  index_.apply(added(e));
  Recorder r;
  subscribe(r, kWeb);
  EXPECT_EQ(r.keys(), std::vector<std::string>{"[fd00::1]:80"});
  index_.apply(deleted(e));
  ASSERT_TRUE(r.last().has_no_endpoints());

  Recorder by_ip;
  index_.apply(added(e));
  subscribe(by_ip, "[fd00:0::1]:80");
  EXPECT_EQ(by_ip.keys(), std::vector<std::string>{"[fd00::1]:80"});
}

TEST_F(DestinationIndexTest, OtherServicesAndNamespacesDoNotReachTheSubscription) {
  index_.apply(added(service("shop", "web")));
  index_.apply(added(service("shop", "api")));
  index_.apply(added(service("other", "web")));
  Recorder r;
  subscribe(r, kWeb);
  r.clear();
  index_.apply(added(endpoint("shop", "api-1", "api", "10.1.0.1")));
  index_.apply(added(endpoint("other", "web-1", "web", "10.2.0.1")));
  EXPECT_TRUE(r.updates.empty());
  EXPECT_TRUE(r.view.empty());
}

TEST_F(DestinationIndexTest, SinkRefusingIsDropped) {
  index_.apply(added(service("shop", "web")));
  Recorder r;
  r.accept = false;
  subscribe(r, kWeb);
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(index_.subscriptions(), 0u);
  index_.apply(added(endpoint("shop", "web-1", "web", "10.1.0.1")));
  index_.apply(added(service("shop", "web", "198.19.0.1")));
  EXPECT_EQ(r.calls, 1);
}

TEST_F(DestinationIndexTest, SinkRefusingLaterIsDropped) {
  index_.apply(added(service("shop", "web")));
  Recorder r;
  subscribe(r, kWeb);
  Recorder other;
  subscribe(other, kWeb);
  EXPECT_EQ(index_.subscriptions(), 2u);
  r.accept = false;
  index_.apply(added(endpoint("shop", "web-1", "web", "10.1.0.1")));
  EXPECT_EQ(r.calls, 2);
  EXPECT_EQ(index_.subscriptions(), 1u);
  index_.apply(added(endpoint("shop", "web-2", "web", "10.1.0.2")));
  EXPECT_EQ(r.calls, 2);
  EXPECT_EQ(other.keys(), (std::vector<std::string>{"10.1.0.1:80", "10.1.0.2:80"}));
}

TEST_F(DestinationIndexTest, UnsubscribeStopsDelivery) {
  index_.apply(added(service("shop", "web")));
  Recorder r;
  auto id = subscribe(r, kWeb);
  EXPECT_EQ(index_.subscriptions(), 1u);
  index_.unsubscribe(id);
  EXPECT_EQ(index_.subscriptions(), 0u);
  index_.unsubscribe(id);  // again: harmless
  index_.apply(added(endpoint("shop", "web-1", "web", "10.1.0.1")));
  index_.apply(modified(service("shop", "web", "198.19.0.1")));
  EXPECT_EQ(r.calls, 1);
}

TEST_F(DestinationIndexTest, EndpointMovedToAnotherServiceUpdatesBoth) {
  index_.apply(added(service("shop", "web")));
  index_.apply(added(service("shop", "api")));
  auto e = endpoint("shop", "pod-1", "web", "10.1.0.1");
  index_.apply(added(e));
  index_.apply(added(endpoint("shop", "pod-2", "web", "10.1.0.2")));
  Recorder web, api;
  subscribe(web, kWeb);
  subscribe(api, "api.shop.svc.cluster.local:80");
  EXPECT_EQ(web.keys(), (std::vector<std::string>{"10.1.0.1:80", "10.1.0.2:80"}));
  EXPECT_TRUE(api.view.empty());

  e.service = "api";
  index_.apply(modified(e));
  EXPECT_EQ(web.keys(), std::vector<std::string>{"10.1.0.2:80"});
  ASSERT_TRUE(web.last().has_remove());
  EXPECT_EQ(api.keys(), std::vector<std::string>{"10.1.0.1:80"});
  ASSERT_TRUE(api.last().has_add());
  EXPECT_EQ(api.last().add().metric_labels().at("service"), "api");

  // And deleting it from its new service leaves the old one alone.
  web.clear();
  index_.apply(deleted(e));
  EXPECT_TRUE(web.updates.empty());
  ASSERT_TRUE(api.last().has_no_endpoints());
  EXPECT_TRUE(api.last().no_endpoints().exists());
}

TEST_F(DestinationIndexTest, SubscriptionCounts) {
  EXPECT_EQ(index_.subscriptions(), 0u);
  Recorder a, b, c;
  auto ida = subscribe(a, kWeb);
  auto idb = subscribe(b, kWeb);
  auto idc = subscribe(c, "10.0.0.1:80");
  EXPECT_NE(ida, idb);
  EXPECT_NE(idb, idc);
  EXPECT_EQ(index_.subscriptions(), 3u);
  index_.unsubscribe(idb);
  EXPECT_EQ(index_.subscriptions(), 2u);
  index_.unsubscribe(ida);
  index_.unsubscribe(idc);
  EXPECT_EQ(index_.subscriptions(), 0u);
}

// Endpoints carry their labels as metric labels: a protobuf map. An unchanged endpoint must
// not be withdrawn and re-sent because another endpoint of its service changed.
TEST_F(DestinationIndexTest, UnchangedLabelledEndpointIsNotResent) {
  index_.apply(added(service("shop", "web")));
  auto labelled = [](std::string name, std::string ip) {
    auto e = endpoint("shop", std::move(name), "web", std::move(ip));
    e.meta.labels = {{"app", "web"}, {"version", "v1"}, {"pod_template_hash", "abc"},
                     {"zone", "a"},  {"team", "shop"},  {"tier", "frontend"}};
    return e;
  };
  index_.apply(added(labelled("web-1", "10.1.0.1")));
  Recorder r;
  subscribe(r, kWeb);
  ASSERT_EQ(r.view.size(), 1u);
  EXPECT_EQ(r.view.at("10.1.0.1:80").metric_labels().at("version"), "v1");
  for (int i = 2; i < 40; ++i) {
    r.clear();
    index_.apply(added(labelled("web-" + std::to_string(i), "10.1.0." + std::to_string(i))));
    ASSERT_EQ(r.updates.size(), 1u) << "after adding endpoint " << i;
    ASSERT_TRUE(r.last().has_add());
    ASSERT_EQ(r.last().add().addrs_size(), 1) << "after adding endpoint " << i;
  }
}

// The proxy treats NoEndpoints{exists} differently (unknown service vs. no ready endpoint);
// it must stay true to the store when the service appears or goes away.
TEST_F(DestinationIndexTest, ExistenceChangesAreToldWhileEmpty) {
  Recorder r;
  subscribe(r, kWeb);
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_FALSE(r.last().no_endpoints().exists());

  index_.apply(added(service("shop", "web")));
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_TRUE(r.last().no_endpoints().exists());

  index_.apply(deleted(service("shop", "web")));
  ASSERT_TRUE(r.last().has_no_endpoints());
  EXPECT_FALSE(r.last().no_endpoints().exists());
}

}  // namespace
}  // namespace strait::controlplane
