// Flat topology: pod networks are routed between clusters. A service exported with
// `remote-discovery` is mirrored with the remote pods themselves as endpoints, so a client in
// west talks mTLS straight to east's pod: east's server proxy sees west's real client identity,
// and east's gateway carries nothing.
#include "tests/integration/multicluster/mc_env.h"

namespace strait::multicluster_it {
namespace {

TEST_F(MulticlusterTest, FlatTopologyConnectsPodToPodWithTheRealClientIdentity) {
  ASSERT_OK(up({"east", "west"}, Topology::flat));
  ASSERT_OK(http_service("east", "web", "web", {{kExported, "remote-discovery"}}));
  ASSERT_OK(m().link("west", "east"));
  auto east = m().cluster("east");
  ASSERT_OK(east);
  auto web_pod = m().net().pod("east/web");
  ASSERT_OK(web_pod);

  // The mirror: east's pod address and the pod's own identity; no gateway, no override.
  auto mirror = m().wait_service("west", "shop", "web-east", 1, 30s);
  ASSERT_OK(mirror);
  ASSERT_EQ(mirror->endpoints.size(), 1u);
  const auto& ep = mirror->endpoints[0];
  EXPECT_EQ(ep.address, web_pod->ip);
  EXPECT_EQ(ep.port, 8080);
  EXPECT_EQ(ep.identity, "spiffe://" + east->trust_domain + "/ns/shop/sa/web");
  EXPECT_EQ(ep.authority_override, "");
  EXPECT_EQ(ep.meta.cluster, "east");
  EXPECT_EQ(mirror->service.meta.labels.at("mirror.strait.dev/mirrored-service"), "true");
  EXPECT_EQ(mirror->service.meta.labels.at("mirror.strait.dev/cluster-name"), "east");
  EXPECT_EQ(mirror->service.meta.annotations.at("mirror.strait.dev/remote-svc-fq-name"),
            "web.shop.svc.cluster.local");
  ASSERT_FALSE(mirror->service.cluster_ip.empty());

  // West's client reaches it.
  const std::string url = "http://" + mirror->service.cluster_ip + "/";
  std::string last;
  ASSERT_TRUE(curl_until("west/client", url, "hello from east-web", 30s, &last)) << last;
  // By name, as an application calls it: the client pod's resolver is west's DNS, whose
  // search list completes "web-east.shop" to the mirror's name.
  EXPECT_TRUE(curl_until("west/client", "http://web-east.shop/", "hello from east-web", 10s, &last))
      << last;

  // East's server proxy terminated mTLS from west's client itself.
  EXPECT_TRUE(wait_metric(
      "east/web", "tcp_open_total",
      {{"direction", "inbound"}, {"tls", "true"}, {"client_id", client_id("west")}}, 1, 10s))
      << m().metrics("east/web");
  // West's client proxy proved the pod's identity, not a gateway's.
  EXPECT_GE(metric("west/client", "tcp_open_total",
                   {{"direction", "outbound"}, {"tls", "true"}, {"server_id", ep.identity}}),
            1)
      << m().metrics("west/client");

  // East's gateway carried nothing (it is up: its metrics answer).
  const std::string gw = m().metrics("east/gw");
  ASSERT_FALSE(gw.empty()) << "east's gateway did not answer /metrics";
  EXPECT_LT(testing::metric_sum(gw, "tcp_open_total", {{"direction", "gateway"}}), 1) << gw;
  EXPECT_LT(testing::metric_sum(gw, "proxy_refused_total", {{"direction", "gateway"}}), 1) << gw;
}

}  // namespace
}  // namespace strait::multicluster_it
