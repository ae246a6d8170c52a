// Federated services: `api` is a member (label mirror.strait.dev/federated: member) in east, west
// and north; west links to east and to north and gets `api-federated`, the union of all three
// clusters' endpoints (its own included). Federated endpoints are the remote pods, so the pod
// networks are routed (flat).
#include "tests/integration/multicluster/mc_env.h"

namespace strait::multicluster_it {
namespace {

std::set<std::string> clusters_of(const devmesh::ServiceView& v) {
  std::set<std::string> out;
  for (const auto& e : v.endpoints) {
    if (e.ready) out.insert(e.meta.cluster);
  }
  return out;
}

TEST_F(MulticlusterTest, FederatedServiceSpansEveryMemberAndLosesOnlyTheOneThatLeaves) {
  const std::vector<std::string> clusters = {"east", "west", "north"};
  ASSERT_OK(up(clusters, Topology::flat));
  for (const auto& c : clusters) ASSERT_OK(http_service(c, "api", "api", {{kFederated, "member"}}));
  ASSERT_OK(m().link("west", "east"));
  ASSERT_OK(m().link("west", "north"));

  // ---- every member ----
  auto fed = m().wait_service("west", "shop", "api-federated", 3, 30s, /*exact=*/true);
  ASSERT_OK(fed);
  EXPECT_EQ(clusters_of(*fed), (std::set<std::string>{"east", "west", "north"}));
  ASSERT_FALSE(fed->service.cluster_ip.empty());
  EXPECT_EQ(fed->service.meta.labels.at("mirror.strait.dev/mirrored-service"), "true");
  const std::string url = "http://" + fed->service.cluster_ip + "/";
  std::set<std::string> seen;
  EXPECT_TRUE(collect_bodies("west/client", url,
                             {"hello from east-api", "hello from west-api", "hello from north-api"},
                             30s, &seen))
      << "answers: " << ::testing::PrintToString(seen);
  // By its MCS name, in every member: clusterset.local is the federated service.
  seen.clear();
  EXPECT_TRUE(collect_bodies("west/client", "http://api.shop.svc.clusterset.local/",
                             {"hello from east-api", "hello from west-api", "hello from north-api"},
                             30s, &seen))
      << "answers: " << ::testing::PrintToString(seen);

  // ---- east leaves: its Service re-applied without the member label ----
  ASSERT_OK(m().apply("east", service_yaml("api", {})));
  auto after = m().wait_service("west", "shop", "api-federated", 2, 30s, /*exact=*/true);
  ASSERT_OK(after);
  EXPECT_EQ(clusters_of(*after), (std::set<std::string>{"west", "north"}));
  EXPECT_EQ(after->service.cluster_ip, fed->service.cluster_ip) << "the service was re-created";
  // Both remaining members answer, and once the client's proxy has the new set, only they do:
  // a round of requests that reaches both and never east.
  std::set<std::string> round;
  auto only_two = harness::wait_until(
      [&] {
        return collect_bodies("west/client", url, {"hello from west-api", "hello from north-api"},
                              10s, &round) &&
               round == std::set<std::string>{"hello from west-api", "hello from north-api"};
      },
      harness::deadline_in(40s), 100ms);
  EXPECT_TRUE(only_two.ok()) << "last round: " << ::testing::PrintToString(round);
  for (int i = 0; i < 10; ++i) {
    auto body = m().curl("west/client", url);
    ASSERT_OK(body);
    EXPECT_EQ(body->find("east-api"), std::string::npos) << "request " << i << ": " << *body;
  }
  // North and west are untouched: their own members are still there.
  auto north_api = m().service("north", "shop", "api");
  ASSERT_OK(north_api);
  EXPECT_EQ(north_api->ready(), 1);
}

}  // namespace
}  // namespace strait::multicluster_it
