// What crosses the wan between clusters (docs/security.md): a controller listens there only
// where linked clusters need it (identity for link tokens, the export API), never with its mesh
// port or its admin port; and a meshed pod that dials a gateway's address directly is sent
// there unmeshed, refused as plaintext — not routed as some arbitrary mirror.
#include "tests/integration/multicluster/mc_env.h"

namespace strait::multicluster_it {
namespace {

class SecurityTest : public MulticlusterTest {
 protected:
  // A TCP connection from `from` (a pod, or a cluster's router on the wan) to address:port.
  bool reachable(const std::string& from, const std::string& address, int port) {
    auto r =
        m().exec(from,
                 {"bash", "-c",
                  "exec 3<>/dev/tcp/" + address + "/" + std::to_string(port) + " && echo open"},
                 5s);
    return r.success() && r.out.find("open") != std::string::npos;
  }
  double gateway_refused(const std::string& cluster, const std::string& reason) {
    return std::max(0.0, metric(cluster + "/gw", "proxy_refused_total",
                                {{"direction", "gateway"}, {"reason", reason}}));
  }
};

TEST_F(SecurityTest, TheWanReachesOnlyWhatLinkedClustersNeed) {
  ASSERT_OK(up({"east", "west"}, Topology::gateway));
  auto east = m().cluster("east");
  ASSERT_OK(east);

  // From west's router, on the wan: identity and the export API answer (links need them), the
  // mesh port and the admin port are not there at all.
  EXPECT_TRUE(reachable("west", east->ctrl_wan_ip, 8080));
  EXPECT_TRUE(reachable("west", east->ctrl_wan_ip, 8443));
  EXPECT_FALSE(reachable("west", east->ctrl_wan_ip, 8086)) << "the mesh port faces the wan";
  EXPECT_FALSE(reachable("west", east->ctrl_wan_ip, 9990)) << "the admin port faces the wan";
  // Inside east the controller's mesh port serves the pods as before.
  EXPECT_TRUE(reachable("east/client", east->ctrl_ip, 8086));
  EXPECT_FALSE(reachable("east/client", east->ctrl_ip, 9990)) << "the admin port faces the pods";

  // Finding 5: west's client dials east's gateway address itself. It used to get a destination
  // answer naming some mirror behind that gateway, without a port, and the gateway refused it as
  // outside_domain; the address alone names no service, so it goes there plain.
  const double outside = gateway_refused("east", "outside_domain");
  const double plain = gateway_refused("east", "plaintext_to_proxy_port");
  ASSERT_OK(http_service("east", "web", "web", {{kExported, "true"}}));
  ASSERT_OK(m().link("west", "east"));
  ASSERT_OK(m().wait_service("west", "shop", "web-east", 1, 30s));
  auto r = m().curl("west/client", "http://" + east->gateway_wan_ip + ":4143/", 5s);
  EXPECT_FALSE(r.ok()) << *r;
  EXPECT_TRUE(harness::wait_until(
                  [&] { return gateway_refused("east", "plaintext_to_proxy_port") >= plain + 1; },
                  harness::deadline_in(10s))
                  .ok())
      << m().metrics("east/gw");
  EXPECT_EQ(gateway_refused("east", "outside_domain"), outside);
  // The mirror itself works through the same gateway.
  auto vip = m().service_vip("west", "shop", "web-east");
  ASSERT_OK(vip);
  EXPECT_TRUE(curl_until("west/client", "http://" + *vip + "/", "hello from east-web", 20s));
}

}  // namespace
}  // namespace strait::multicluster_it
