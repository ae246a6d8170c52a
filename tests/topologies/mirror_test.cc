// Tests of the three topologies' pure mirror functions.
#include "topologies/mirror.h"

#include <gtest/gtest.h>

#include "topologies/labels.h"

namespace strait::topologies {
namespace {

using discovery::Endpoint;
using discovery::Link;
using discovery::Service;

Service service(const std::string& name, discovery::Labels labels) {
  Service s;
  s.meta.cluster = "east";
  s.meta.ns = "shop";
  s.meta.name = name;
  s.meta.labels = std::move(labels);
  s.ports = {{"http", 80, 8080, discovery::ProtocolHint::kHttp1}};
  return s;
}

Endpoint pod(const std::string& ip, const std::string& cluster = "east") {
  Endpoint e;
  e.meta.cluster = cluster;
  e.meta.ns = "shop";
  e.meta.name = "web-" + ip;
  e.meta.version = 42;
  e.service = "web";
  e.address = ip;
  e.port = 8080;
  e.identity = "spiffe://" + cluster + ".strait/ns/shop/sa/web";
  return e;
}

Link link_to_east() {
  Link l;
  l.meta.name = "east";
  l.target_cluster = "east";
  l.target_domain = "east.local";
  l.selector = {{std::string(kExported), "true"}};
  l.remote_discovery_selector = {{std::string(kExported), "remote-discovery"}};
  l.federated_selector = {{std::string(kFederated), "member"}};
  l.excluded_labels = {"secret"};
  return l;
}

TEST(ExportMode, FromLabels) {
  EXPECT_EQ(export_mode({{std::string(kExported), "true"}}), ExportMode::kGateway);
  EXPECT_EQ(export_mode({{std::string(kExported), "remote-discovery"}}), ExportMode::kFlat);
  EXPECT_EQ(export_mode({{std::string(kExported), "yes"}}), ExportMode::kNone);
  EXPECT_EQ(export_mode({}), ExportMode::kNone);
  EXPECT_TRUE(is_federated_member({{std::string(kFederated), "member"}}));
  EXPECT_FALSE(is_federated_member({{std::string(kFederated), "true"}}));
}

TEST(ExportTo, AnnotationLimitsClusters) {
  auto s = service("web", {});
  EXPECT_TRUE(exported_to(s, "west"));
  s.meta.annotations[std::string(kExportTo)] = "west, north";
  EXPECT_TRUE(exported_to(s, "west"));
  EXPECT_TRUE(exported_to(s, "north"));
  EXPECT_FALSE(exported_to(s, "south"));
  EXPECT_FALSE(exported_to(s, "wes"));
}

TEST(LinkSelects, ByModeSelector) {
  auto l = link_to_east();
  EXPECT_TRUE(link_selects(l, service("a", {{std::string(kExported), "true"}})));
  EXPECT_TRUE(link_selects(l, service("b", {{std::string(kExported), "remote-discovery"}})));
  EXPECT_TRUE(link_selects(l, service("c", {{std::string(kFederated), "member"}})));
  EXPECT_FALSE(link_selects(l, service("d", {{"app", "web"}})));
  l.selector["tier"] = "front";
  EXPECT_FALSE(link_selects(l, service("a", {{std::string(kExported), "true"}})));
}

TEST(GatewayMirror, EndpointsAreTheGatewayWithAnAuthorityOverride) {
  RemoteService r{
      service("web", {{std::string(kExported), "true"}, {"app", "web"}, {"secret", "x"}}),
      {pod("198.18.1.10"), pod("198.18.1.11")}};
  GatewayView gw{{"198.18.250.100", "198.18.250.101"},
                 4143,
                 "spiffe://east.strait/ns/strait-multicluster/sa/gateway",
                 true};
  auto m = gateway_mirror(r, link_to_east(), gw, "west");
  EXPECT_EQ(m.service.meta.name, "web-east");
  EXPECT_EQ(m.service.meta.ns, "shop");
  EXPECT_EQ(m.service.meta.labels.at("app"), "web");
  EXPECT_FALSE(m.service.meta.labels.contains("secret"));
  EXPECT_FALSE(m.service.meta.labels.contains(std::string(kExported)));
  EXPECT_EQ(m.service.meta.labels.at(std::string(kMirrored)), "true");
  EXPECT_EQ(m.service.meta.labels.at(std::string(kClusterName)), "east");
  EXPECT_EQ(m.service.meta.annotations.at(std::string(kRemoteFqName)), "web.shop.svc.east.local");
  EXPECT_EQ(m.service.meta.owner, "link:east");
  ASSERT_EQ(m.endpoints.size(), 2u);  // one per gateway address, not per pod
  for (const auto& e : m.endpoints) {
    EXPECT_EQ(e.service, "web-east");
    EXPECT_EQ(e.port, 4143);
    EXPECT_EQ(e.identity, gw.identity);
    EXPECT_EQ(e.authority_override, "web.shop.svc.east.local");
    EXPECT_TRUE(e.ready);
    EXPECT_EQ(e.meta.labels.at("target_cluster"), "east");
    EXPECT_EQ(e.meta.labels.at("target_service"), "web");
    EXPECT_EQ(e.meta.labels.at("target_service_namespace"), "shop");
  }
  EXPECT_NE(m.endpoints[0].meta.name, m.endpoints[1].meta.name);
}

TEST(GatewayMirror, NotReadyWhenTheGatewayIsDownOrNothingIsExported) {
  RemoteService r{service("web", {{std::string(kExported), "true"}}), {pod("198.18.1.10")}};
  GatewayView gw{{"198.18.250.100"}, 4143, "spiffe://east.strait/ns/x/sa/gw", false};
  EXPECT_FALSE(gateway_mirror(r, link_to_east(), gw, "west").endpoints.at(0).ready);
  gw.alive = true;
  r.endpoints.clear();
  EXPECT_FALSE(gateway_mirror(r, link_to_east(), gw, "west").endpoints.at(0).ready);
}

TEST(FlatMirror, EndpointsAreTheRemotePodsWithTheirIdentities) {
  RemoteService r{service("web", {{std::string(kExported), "remote-discovery"}}),
                  {pod("198.18.1.10"), pod("198.18.1.11")}};
  auto m = flat_mirror(r, link_to_east(), "west");
  EXPECT_EQ(m.service.meta.name, "web-east");
  ASSERT_EQ(m.endpoints.size(), 2u);
  EXPECT_EQ(m.endpoints[0].address, "198.18.1.10");
  EXPECT_EQ(m.endpoints[0].port, 8080);
  EXPECT_EQ(m.endpoints[0].identity, "spiffe://east.strait/ns/shop/sa/web");
  EXPECT_EQ(m.endpoints[0].service, "web-east");
  EXPECT_EQ(m.endpoints[0].meta.cluster, "east");
  EXPECT_EQ(m.endpoints[0].meta.version, 0u);
  EXPECT_TRUE(m.endpoints[0].authority_override.empty());
}

TEST(Federated, UnionOfMembersWithMetadataFromTheOldest) {
  auto east_svc = service("api", {{std::string(kFederated), "member"}, {"from", "east"}});
  auto west_svc = service("api", {{std::string(kFederated), "member"}, {"from", "west"}});
  west_svc.meta.cluster = "west";
  std::vector<FederatedMember> members = {
      {"west", {west_svc, {pod("198.18.2.10", "west")}}, 5},
      {"east", {east_svc, {pod("198.18.1.10", "east"), pod("198.18.1.11", "east")}}, 3},
  };
  auto l = link_to_east();
  auto m = federated(members, &l, "west");
  EXPECT_EQ(m.service.meta.name, "api-federated");
  EXPECT_EQ(m.service.meta.labels.at("from"), "east");  // east was seen first
  ASSERT_EQ(m.endpoints.size(), 3u);
  int east = 0, west = 0;
  for (const auto& e : m.endpoints) {
    EXPECT_EQ(e.service, "api-federated");
    (e.meta.cluster == "east" ? east : west)++;
    EXPECT_EQ(e.meta.owner, "link:" + e.meta.cluster);
  }
  EXPECT_EQ(east, 2);
  EXPECT_EQ(west, 1);
  // A member that leaves takes only its own endpoints.
  members.erase(members.begin() + 1);
  auto after = federated(members, &l, "west");
  ASSERT_EQ(after.endpoints.size(), 1u);
  EXPECT_EQ(after.endpoints[0].meta.cluster, "west");
}

// KEP-1645: the import's ports are the union; a port name declared differently keeps the oldest
// export's, and the conflict names both clusters.
TEST(ServiceImport, PortsAreTheUnionAndTheOldestExportWinsAConflict) {
  auto east_svc = service("db", {});
  east_svc.ports = {{"sql", 5432, 5432, discovery::ProtocolHint::kOpaque}};
  auto west_svc = service("db", {});
  west_svc.meta.cluster = "west";
  west_svc.ports = {{"sql", 5433, 5433, discovery::ProtocolHint::kOpaque},
                    {"metrics", 9187, 9187, discovery::ProtocolHint::kHttp1}};
  std::vector<FederatedMember> members = {{"west", {west_svc, {}}, 7}, {"east", {east_svc, {}}, 2}};
  auto i = service_import(members, "north", "10.96.0.40");
  EXPECT_EQ(i.meta.ns, "shop");
  EXPECT_EQ(i.meta.name, "db");
  EXPECT_EQ(i.meta.owner, "link:north");
  EXPECT_EQ(i.type, "ClusterSetIP");
  EXPECT_EQ(i.ips, (std::vector<std::string>{"10.96.0.40"}));
  EXPECT_EQ(i.clusters, (std::vector<std::string>{"east", "west"}));
  ASSERT_EQ(i.ports.size(), 2u);
  EXPECT_EQ(i.ports[0].name, "sql");
  EXPECT_EQ(i.ports[0].port, 5432);  // east's: exported first
  EXPECT_EQ(i.ports[1].name, "metrics");
  ASSERT_EQ(i.conflicts.size(), 1u);
  EXPECT_EQ(i.conflicts[0],
            "port sql: west exports 5433/opaque, east's 5432/opaque is used (the oldest export "
            "wins)");
  // The federated service serves the same union.
  auto m = federated(members, nullptr, "north");
  EXPECT_EQ(m.service.ports, i.ports);

  // The same port everywhere: no conflict.
  west_svc.ports[0] = east_svc.ports[0];
  members[0].remote.service = west_svc;
  EXPECT_TRUE(service_import(members, "north", "").conflicts.empty());
  EXPECT_TRUE(service_import(members, "north", "").ips.empty());  // not allocated yet
}

TEST(ServiceImport, HeadlessWhenTheOldestMemberIsHeadless) {
  auto east_svc = service("db", {});
  east_svc.cluster_ip = std::string(discovery::kHeadless);
  std::vector<FederatedMember> members = {{"east", {east_svc, {pod("198.18.1.10")}}, 1}};
  auto i = service_import(members, "west", "10.96.0.9");
  EXPECT_EQ(i.type, "Headless");
  EXPECT_TRUE(i.ips.empty());
  EXPECT_TRUE(discovery::is_headless(federated(members, nullptr, "west").service));
}

}  // namespace
}  // namespace strait::topologies
