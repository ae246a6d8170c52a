// Unit tests of the event -> handler mapping: typed link events against a fake local store.
#include <gtest/gtest.h>

#include "link/link_mirrors.h"
#include "tests/link/fake_store.h"
#include "topologies/labels.h"

namespace strait::link {
namespace {
using discovery::Kind;
using testing::FakeStore;

discovery::Link east_link() {
  discovery::Link l = testing::east_test_link("198.18.0.10");
  l.gateway_addresses.push_back("198.18.0.11");
  l.gateway_port = 4143;
  l.remote_discovery_selector = {{"mirror.strait.dev/exported", "remote-discovery"}};
  l.federated_selector = {{"mirror.strait.dev/federated", "member"}};
  return l;
}

topologies::RemoteService remote(const std::string& name, discovery::Labels labels,
                                 std::vector<std::string> ips,
                                 const std::string& cluster = "east") {
  topologies::RemoteService r;
  r.service.meta.cluster = cluster;
  r.service.meta.ns = "shop";
  r.service.meta.name = name;
  r.service.meta.labels = std::move(labels);
  r.service.ports.push_back({.name = "http", .port = 80});
  for (const auto& ip : ips) {
    discovery::Endpoint e;
    e.meta.cluster = cluster;
    e.meta.ns = "shop";
    e.meta.name = name + "-" + ip;
    e.service = name;
    e.address = ip;
    e.port = 8080;
    e.identity = "spiffe://" + cluster + ".strait/ns/shop/sa/" + name;
    r.endpoints.push_back(std::move(e));
  }
  return r;
}

const discovery::Labels kGateway = {{"mirror.strait.dev/exported", "true"}, {"app", "web"}};
const discovery::Labels kFlat = {{"mirror.strait.dev/exported", "remote-discovery"}};
const discovery::Labels kFederated = {{"mirror.strait.dev/federated", "member"}};

class LinkMirrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The namespace exists locally.
    discovery::Service local;
    local.meta.ns = "shop";
    local.meta.name = "frontend";
    store.put(local);
  }
  FakeStore store;
  FederatedSet federated{store, "west"};
  LinkMirrors mirrors{east_link(), "west", store, &federated};
};

TEST_F(LinkMirrorsTest, GatewayExportBecomesMirrorOfGatewayAddresses) {
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("web", kGateway, {"10.1.0.1"})}));
  const auto* svc = store.service("shop", "web-east");
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ(svc->meta.owner, "link:east");
  EXPECT_EQ(svc->meta.labels.at("app"), "web");
  EXPECT_EQ(svc->meta.labels.count("mirror.strait.dev/exported"), 0u);
  auto eps = store.endpoints_of("shop", "web-east");
  ASSERT_EQ(eps.size(), 2u);
  std::set<std::string> addrs;
  for (const auto& [n, e] : eps) {
    addrs.insert(e.address);
    EXPECT_EQ(e.port, 4143);
    EXPECT_EQ(e.identity, "spiffe://east.strait/ns/strait-multicluster/sa/strait-gateway");
    EXPECT_EQ(e.authority_override, "web.shop.svc.east.local");
    EXPECT_TRUE(e.ready);
    EXPECT_EQ(e.meta.owner, "link:east");
  }
  EXPECT_EQ(addrs, (std::set<std::string>{"198.18.0.10", "198.18.0.11"}));
  EXPECT_EQ(mirrors.mirror_count(), 1u);
  ASSERT_EQ(mirrors.status().size(), 1u);
  EXPECT_EQ(mirrors.status()[0].condition, "ok");
  EXPECT_EQ(mirrors.status()[0].mode, "gateway");
}

// The export stream down past staleAfter: every mirror stays, its endpoints not ready, saying
// since when; a stale federated member adds no ready endpoint to the union; an endpoint this
// link wrote in an earlier run (unknown to this object) goes not ready too. Fresh again: all
// back as the target exports them.
TEST_F(LinkMirrorsTest, AStaleLinkKeepsItsMirrorsWithoutReadyEndpoints) {
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("web", kGateway, {"10.1.0.1"})}));
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("db", kFlat, {"10.1.0.2"})}));
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("api", kFederated, {"10.1.0.3"})}));
  auto earlier = remote("old", kFlat, {"10.1.0.9"}).endpoints[0];
  earlier.service = "old-east";
  earlier.meta.name = "old-east-10-1-0-9";
  earlier.meta.owner = "link:east";
  store.put(earlier);
  auto ready = [&](const std::string& svc) {
    int n = 0;
    for (const auto& [name, e] : store.endpoints_of("shop", svc)) n += e.ready ? 1 : 0;
    return n;
  };
  ASSERT_EQ(ready("web-east"), 2);
  ASSERT_EQ(ready("db-east"), 1);
  ASSERT_EQ(ready("api-federated"), 1);

  ASSERT_TRUE(mirrors.on(StaleChanged{true, 1'700'000'000}));
  EXPECT_TRUE(mirrors.stale());
  for (const char* svc : {"web-east", "db-east"}) {
    ASSERT_NE(store.service("shop", svc), nullptr) << svc;
    EXPECT_EQ(store.service("shop", svc)->meta.annotations.at("mirror.strait.dev/stale-since"),
              "1700000000");
    EXPECT_EQ(store.endpoints_of("shop", svc).size(), svc == std::string("web-east") ? 2u : 1u);
    EXPECT_EQ(ready(svc), 0) << svc;
  }
  EXPECT_EQ(ready("api-federated"), 0);
  EXPECT_EQ(ready("old-east"), 0);
  for (const auto& m : mirrors.status()) EXPECT_EQ(m.condition, "stale") << m.name;
  EXPECT_EQ(event_name(StaleChanged{}), "stale");

  ASSERT_TRUE(mirrors.on(StaleChanged{false, 0}));
  EXPECT_FALSE(mirrors.stale());
  EXPECT_EQ(ready("web-east"), 2);
  EXPECT_EQ(ready("db-east"), 1);
  EXPECT_EQ(ready("api-federated"), 1);
  EXPECT_FALSE(
      store.service("shop", "db-east")->meta.annotations.contains("mirror.strait.dev/stale-since"));
  for (const auto& m : mirrors.status()) EXPECT_EQ(m.condition, "ok") << m.name;
}

TEST_F(LinkMirrorsTest, FlatExportMirrorsPodsAndDropsVanishedEndpoints) {
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("db", kFlat, {"10.1.0.1", "10.1.0.2"})}));
  auto eps = store.endpoints_of("shop", "db-east");
  ASSERT_EQ(eps.size(), 2u);
  for (const auto& [n, e] : eps) EXPECT_EQ(e.identity, "spiffe://east.strait/ns/shop/sa/db");
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("db", kFlat, {"10.1.0.2"})}));
  eps = store.endpoints_of("shop", "db-east");
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps.begin()->second.address, "10.1.0.2");
}

TEST_F(LinkMirrorsTest, UpdateWithoutChangeWritesNothing) {
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("db", kFlat, {"10.1.0.1"})}));
  const int applies = store.applies;
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("db", kFlat, {"10.1.0.1"})}));
  EXPECT_EQ(store.applies, applies);
}

TEST_F(LinkMirrorsTest, UnexportRemovesTheMirror) {
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("web", kGateway, {"10.1.0.1"})}));
  ASSERT_TRUE(mirrors.on(ServiceUnexported{"shop", "web"}));
  EXPECT_EQ(store.service("shop", "web-east"), nullptr);
  EXPECT_EQ(store.count_owned_by("link:east"), 0u);
  EXPECT_TRUE(mirrors.status().empty());
}

TEST_F(LinkMirrorsTest, ModeChangeReshapesTheMirror) {
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("web", kGateway, {"10.1.0.1"})}));
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("web", kFlat, {"10.1.0.1"})}));
  auto eps = store.endpoints_of("shop", "web-east");
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps.begin()->second.address, "10.1.0.1");
}

TEST_F(LinkMirrorsTest, SyncedCollectsOrphansOfThisLinkOnly) {
  discovery::Service orphan;
  orphan.meta.ns = "shop";
  orphan.meta.name = "gone-east";
  orphan.meta.owner = "link:east";
  store.put(orphan);
  discovery::Service other = orphan;
  other.meta.name = "gone-north";
  other.meta.owner = "link:north";
  store.put(other);
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("web", kGateway, {"10.1.0.1"})}));
  ASSERT_TRUE(mirrors.on(Synced{}));
  EXPECT_TRUE(mirrors.synced());
  EXPECT_EQ(store.service("shop", "gone-east"), nullptr);
  EXPECT_NE(store.service("shop", "gone-north"), nullptr);
  EXPECT_NE(store.service("shop", "web-east"), nullptr);
  EXPECT_NE(store.service("shop", "frontend"), nullptr);
}

TEST_F(LinkMirrorsTest, ConflictingLocalObjectIsNeverOverwritten) {
  discovery::Service mine;
  mine.meta.ns = "shop";
  mine.meta.name = "web-east";
  mine.cluster_ip = "198.19.0.99";
  store.put(mine);
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("web", kGateway, {"10.1.0.1"})}));
  EXPECT_EQ(store.service("shop", "web-east")->meta.owner, "");
  EXPECT_TRUE(store.endpoints_of("shop", "web-east").empty());
  ASSERT_EQ(mirrors.status().size(), 1u);
  EXPECT_EQ(mirrors.status()[0].condition, "conflict");
}

TEST_F(LinkMirrorsTest, MissingNamespaceIsReported) {
  auto r = remote("web", kGateway, {"10.1.0.1"});
  r.service.meta.ns = "empty";
  for (auto& e : r.endpoints) e.meta.ns = "empty";
  ASSERT_TRUE(mirrors.on(ServiceExported{r}));
  ASSERT_EQ(mirrors.status().size(), 1u);
  EXPECT_EQ(mirrors.status()[0].condition, "missing_namespace");
}

TEST_F(LinkMirrorsTest, DeadGatewayMakesGatewayEndpointsNotReady) {
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("web", kGateway, {"10.1.0.1"})}));
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("db", kFlat, {"10.1.0.2"})}));
  ASSERT_TRUE(mirrors.on(GatewayHealthChanged{false}));
  for (const auto& [n, e] : store.endpoints_of("shop", "web-east")) EXPECT_FALSE(e.ready) << n;
  for (const auto& [n, e] : store.endpoints_of("shop", "db-east")) EXPECT_TRUE(e.ready) << n;
  ASSERT_TRUE(mirrors.on(GatewayHealthChanged{true}));
  for (const auto& [n, e] : store.endpoints_of("shop", "web-east")) EXPECT_TRUE(e.ready) << n;
}

TEST_F(LinkMirrorsTest, RepairRewritesOnlyWhatDrifted) {
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("web", kGateway, {"10.1.0.1"})}));
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("db", kFlat, {"10.1.0.7"})}));
  // The store fills in a virtual IP and versions: that is not drift.
  auto vip = *store.service("shop", "web-east");
  vip.cluster_ip = "198.19.0.9";
  vip.meta.version = 42;
  store.put(vip);
  int applies = store.applies;
  ASSERT_TRUE(mirrors.on(RepairEndpoints{{}}));
  EXPECT_EQ(store.applies, applies) << "a repair with nothing drifted wrote anyway";
  // Someone deletes one mirror's endpoint and changes the other's port: exactly those return.
  auto eps = store.endpoints_of("shop", "db-east");
  ASSERT_EQ(eps.size(), 1u);
  ASSERT_TRUE(store.remove({Kind::kEndpoint, "shop", eps.begin()->first}));
  auto changed = *store.service("shop", "web-east");
  changed.ports.at(0).port = 8888;
  store.put(changed);
  applies = store.applies;
  ASSERT_TRUE(mirrors.on(RepairEndpoints{{}}));
  EXPECT_EQ(store.applies, applies + 2);
  EXPECT_EQ(store.endpoints_of("shop", "db-east").size(), 1u);
  EXPECT_NE(store.service("shop", "web-east")->ports.at(0).port, 8888);
}

TEST_F(LinkMirrorsTest, RepairTakesResolvedAddresses) {
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("web", kGateway, {"10.1.0.1"})}));
  const int applies = store.applies;
  ASSERT_TRUE(mirrors.on(RepairEndpoints{{"198.18.0.20"}}));
  auto eps = store.endpoints_of("shop", "web-east");
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps.begin()->second.address, "198.18.0.20");
  EXPECT_GT(store.applies, applies);
  // Nothing resolved: the old addresses stay.
  ASSERT_TRUE(mirrors.on(RepairEndpoints{{}}));
  EXPECT_EQ(store.endpoints_of("shop", "web-east").size(), 1u);
}

TEST_F(LinkMirrorsTest, LinkRemovedDeletesEverythingItOwnsEvenFromEarlierRuns) {
  discovery::Service old;
  old.meta.ns = "other";
  old.meta.name = "old-east";
  old.meta.owner = "link:east";
  store.put(old);
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("web", kGateway, {"10.1.0.1"})}));
  ASSERT_TRUE(mirrors.on(LinkRemoved{}));
  EXPECT_EQ(store.count_owned_by("link:east"), 0u);
  EXPECT_NE(store.service("shop", "frontend"), nullptr);
}

TEST_F(LinkMirrorsTest, FailedWriteKeepsStateAndRetryWorkRedoesIt) {
  store.fail_next(1, make_error("unavailable", "controller restarting"));
  LinkEvent e = ServiceExported{remote("web", kGateway, {"10.1.0.1"})};
  auto r = mirrors.on(e);
  ASSERT_FALSE(r);
  EXPECT_TRUE(retryable(r.error()));
  EXPECT_EQ(store.service("shop", "web-east"), nullptr);
  auto work = mirrors.retry_for(e);
  EXPECT_EQ(work.key, "service/shop/web");
  EXPECT_EQ(mirrors.retry_for(ServiceUnexported{"shop", "web"}).key, work.key);
  ASSERT_TRUE(work.run());
  EXPECT_NE(store.service("shop", "web-east"), nullptr);
  EXPECT_FALSE(retryable(make_error("invalid_argument", "bad object")));
}

TEST_F(LinkMirrorsTest, EventNamesAreMetricLabels) {
  EXPECT_EQ(event_name(ServiceExported{}), "service_exported");
  EXPECT_EQ(event_name(ServiceUnexported{}), "service_unexported");
  EXPECT_EQ(event_name(Synced{}), "synced");
  EXPECT_EQ(event_name(LinkRemoved{}), "link_removed");
  EXPECT_EQ(event_name(RepairEndpoints{}), "repair_endpoints");
  EXPECT_EQ(event_name(GatewayHealthChanged{}), "gateway_health");
}

TEST_F(LinkMirrorsTest, FederatedUnionIncludesLocalMembersAndMembersLeaveAlone) {
  // The local cluster's own member.
  auto local = remote("api", kFederated, {"10.2.0.1"}, "west");
  store.put(local.service);
  store.put(local.endpoints[0]);
  ASSERT_TRUE(federated.refresh_local());
  // Only local: a federated service of one member (a clusterset of one has its name too).
  ASSERT_NE(store.service("shop", "api-federated"), nullptr);
  EXPECT_EQ(store.endpoints_of("shop", "api-federated").size(), 1u);
  ASSERT_NE(store.find(discovery::Kind::kServiceImport, "shop", "api"), nullptr);
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("api", kFederated, {"10.1.0.1"})}));
  ASSERT_NE(store.service("shop", "api-federated"), nullptr);
  auto eps = store.endpoints_of("shop", "api-federated");
  std::set<std::string> addrs;
  for (const auto& [n, e] : eps) addrs.insert(e.address + "@" + e.meta.cluster);
  EXPECT_EQ(addrs, (std::set<std::string>{"10.1.0.1@east", "10.2.0.1@west"}));
  // GC keeps the federated endpoints this link contributed.
  ASSERT_TRUE(mirrors.on(Synced{}));
  EXPECT_EQ(store.endpoints_of("shop", "api-federated").size(), 2u);
  // East leaves: only its endpoints go; west's own stays a member.
  ASSERT_TRUE(mirrors.on(ServiceUnexported{"shop", "api"}));
  ASSERT_NE(store.service("shop", "api-federated"), nullptr);
  eps = store.endpoints_of("shop", "api-federated");
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps.begin()->second.meta.cluster, "west");
  // West's label removed: the last member left, the federated service and import go.
  local.service.meta.labels.erase("mirror.strait.dev/federated");
  store.put(local.service);
  ASSERT_TRUE(federated.refresh_local());
  EXPECT_EQ(store.service("shop", "api-federated"), nullptr);
  EXPECT_EQ(store.find(discovery::Kind::kServiceImport, "shop", "api"), nullptr);
  EXPECT_NE(store.service("shop", "api"), nullptr);
}

TEST_F(LinkMirrorsTest, AServiceExportMakesTheLocalServiceAMemberWithoutTheLabel) {
  auto local = remote("db", {{"app", "db"}}, {"10.2.0.7"}, "west");
  store.put(local.service);
  store.put(local.endpoints[0]);
  ASSERT_TRUE(mirrors.on(ServiceExported{remote("db", kFederated, {"10.1.0.7"})}));
  ASSERT_TRUE(federated.refresh_local());
  auto addrs = [&] {
    std::set<std::string> out;
    for (const auto& [n, e] : store.endpoints_of("shop", "db-federated")) {
      out.insert(e.address + "@" + e.meta.cluster);
    }
    return out;
  };
  // Without a ServiceExport, west's db is not a member: only east's endpoint.
  EXPECT_EQ(addrs(), (std::set<std::string>{"10.1.0.7@east"}));
  discovery::ServiceExport x;
  x.meta.ns = "shop";
  x.meta.name = "db";
  store.put(x);
  ASSERT_TRUE(federated.refresh_local());
  EXPECT_EQ(addrs(), (std::set<std::string>{"10.1.0.7@east", "10.2.0.7@west"}));
  // The export's label never reaches the federated service (mirror.strait.dev/* are dropped).
  EXPECT_FALSE(
      store.service("shop", "db-federated")->meta.labels.contains("mirror.strait.dev/federated"));
  // Its ServiceExport deleted, west leaves the union.
  ASSERT_TRUE(store.remove(discovery::key_of(discovery::Object(x))));
  ASSERT_TRUE(federated.refresh_local());
  EXPECT_EQ(addrs(), (std::set<std::string>{"10.1.0.7@east"}));
}

TEST(FederatedSetTest, OldestMemberGivesMetadataAndLeavingRemovesOnlyItsEndpoints) {
  FakeStore store;
  FederatedSet set(store, "west");
  auto link = east_link();
  auto east =
      remote("api", {{"mirror.strait.dev/federated", "member"}, {"tier", "east"}}, {"10.1.0.1"});
  auto north = remote("api", {{"mirror.strait.dev/federated", "member"}, {"tier", "north"}},
                      {"10.3.0.1"}, "north");
  ASSERT_TRUE(set.set_member({"shop", "api"}, "east", east, link));
  ASSERT_TRUE(set.set_member({"shop", "api"}, "north", north, link));
  EXPECT_EQ(store.service("shop", "api-federated")->meta.labels.at("tier"), "east");
  EXPECT_EQ(store.endpoints_of("shop", "api-federated").size(), 2u);
  ASSERT_TRUE(set.remove_member({"shop", "api"}, "east"));
  auto eps = store.endpoints_of("shop", "api-federated");
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps.begin()->second.address, "10.3.0.1");
  EXPECT_EQ(set.keys_owned_by("link:east").size(), 0u);
  EXPECT_EQ(set.keys_owned_by("link:north").size(), 1u);
  ASSERT_TRUE(set.remove_cluster("north"));
  EXPECT_EQ(store.size(), 0u);
}

// KEP-1645: beside api-federated its ServiceImport "api", with the virtual IP the store gave
// the federated service, the member clusters and the union of ports; it goes with the last
// member.
TEST(FederatedSetTest, TheServiceImportNamesTheFederatedVirtualIpAndGoesWithIt) {
  FakeStore store;
  store.allocate_virtual_ips = true;
  FederatedSet set(store, "west");
  auto link = east_link();
  auto east = remote("api", {{"mirror.strait.dev/federated", "member"}}, {"10.1.0.1"});
  auto north = remote("api", {{"mirror.strait.dev/federated", "member"}}, {"10.3.0.1"}, "north");
  north.service.ports.push_back({"admin", 9000, 9000, discovery::ProtocolHint::kHttp1});
  ASSERT_TRUE(set.set_member({"shop", "api"}, "east", east, link));
  const auto* fed = store.service("shop", "api-federated");
  ASSERT_NE(fed, nullptr);
  ASSERT_FALSE(fed->cluster_ip.empty());
  auto import_of = [&]() -> const discovery::ServiceImport* {
    auto* o = store.find(discovery::Kind::kServiceImport, "shop", "api");
    return o ? &std::get<discovery::ServiceImport>(*o) : nullptr;
  };
  ASSERT_NE(import_of(), nullptr);
  EXPECT_EQ(import_of()->type, "ClusterSetIP");
  EXPECT_EQ(import_of()->ips, (std::vector<std::string>{fed->cluster_ip}));
  EXPECT_EQ(import_of()->clusters, (std::vector<std::string>{"east"}));
  EXPECT_EQ(import_of()->meta.owner, "link:west");
  ASSERT_TRUE(set.set_member({"shop", "api"}, "north", north, link));
  EXPECT_EQ(import_of()->clusters, (std::vector<std::string>{"east", "north"}));
  EXPECT_EQ(import_of()->ports.size(), east.service.ports.size() + 1);
  EXPECT_EQ(store.service("shop", "api-federated")->ports, import_of()->ports);
  EXPECT_EQ(import_of()->ips, (std::vector<std::string>{fed->cluster_ip}));  // unchanged
  EXPECT_TRUE(import_of()->conflicts.empty());
  EXPECT_TRUE(
      set.keys_owned_by("link:west").contains({discovery::Kind::kServiceImport, "shop", "api"}));
  ASSERT_TRUE(set.remove_cluster("east"));
  ASSERT_TRUE(set.remove_cluster("north"));
  EXPECT_EQ(import_of(), nullptr);
  EXPECT_EQ(store.size(), 0u);
}

}  // namespace
}  // namespace strait::link
