// Separate trust domains end to end: east (east.strait) and west (west.strait) each have their
// own anchor; they link each other, so each trusts the other's root for the other's identities
// only. West's client reaches web-east through east's gateway (gateway mode) and echo-east pod
// to pod (flat mode); east sees west's identity in west's trust domain.
#include "tests/integration/multicluster/mc_env.h"

namespace strait::multicluster_it {
namespace {

TEST_F(MulticlusterTest, SeparateTrustDomainsLinkedBothWaysCarryTrafficInEveryMode) {
  ASSERT_OK(up({"east", "west"}, Topology::mixed, Trust::separate));
  auto east = m().cluster("east");
  auto west = m().cluster("west");
  ASSERT_OK(east);
  ASSERT_OK(west);
  ASSERT_EQ(east->trust_domain, "east.strait");
  ASSERT_EQ(west->trust_domain, "west.strait");
  ASSERT_OK(http_service("east", "web", "web", {{kExported, "true"}}));
  ASSERT_OK(http_service("east", "api", "api", {{kExported, "remote-discovery"}}));
  ASSERT_OK(m().link("west", "east"));
  ASSERT_OK(m().link("east", "west"));

  auto web = m().wait_service("west", "shop", "web-east", 1, 30s);
  ASSERT_OK(web);
  EXPECT_EQ(web->endpoints[0].identity, east->gateway_identity());
  auto api = m().wait_service("west", "shop", "api-east", 1, 30s);
  ASSERT_OK(api);
  EXPECT_EQ(api->endpoints[0].identity, "spiffe://east.strait/ns/shop/sa/api");

  // West's proxies learn east's root (scoped to east.strait) from their controller's trust
  // stream, and east's from west's: traffic flows in both modes.
  std::string last;
  EXPECT_TRUE(curl_until("west/client", "http://" + web->service.cluster_ip + "/",
                         "hello from east-web", 30s, &last))
      << last;
  EXPECT_TRUE(curl_until("west/client", "http://" + api->service.cluster_ip + "/",
                         "hello from east-api", 30s, &last))
      << last;
  EXPECT_TRUE(
      wait_metric("west/client", "identity_trust_roots", {{"trust_domain", "east.strait"}}, 1, 10s))
      << m().metrics("west/client");
  // East sees west's identity, in west's trust domain: at the gateway, and at the pod (flat).
  EXPECT_TRUE(wait_metric(
      "east/gw", "tcp_open_total",
      {{"direction", "gateway"}, {"client_id", "spiffe://west.strait/ns/front/sa/client"}}, 1, 10s))
      << m().metrics("east/gw");
  EXPECT_TRUE(wait_metric(
      "east/api", "tcp_open_total",
      {{"direction", "inbound"}, {"client_id", "spiffe://west.strait/ns/front/sa/client"}}, 1, 10s))
      << m().metrics("east/api");

  // Unlinking in east removes west's root from east's trust: west's client can no longer get
  // through east's gateway (west still mirrors web-east; east refuses the handshake).
  ASSERT_OK(m().straitctl("east", {"multicluster", "unlink", "--cluster-name", "west"}));
  EXPECT_TRUE(harness::wait_until(
                  [&] {
                    return metric("east/gw", "identity_trust_roots",
                                  {{"trust_domain", "west.strait"}}) <= 0;
                  },
                  harness::deadline_in(15s), 250ms)
                  .ok())
      << m().metrics("east/gw");
  auto refused = m().curl("west/client", "http://" + web->service.cluster_ip + "/", 3s);
  EXPECT_FALSE(refused.ok() && refused->find("hello from east-web") != std::string::npos)
      << "east's gateway still admitted west after the unlink";
}

}  // namespace
}  // namespace strait::multicluster_it
