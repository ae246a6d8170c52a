// Gateway failure and recovery. East exports `web` through its gateway and is a member of the
// federated `api` (with west). East's gateway is killed: within probe period x failure threshold
// west's strait-link marks web-east's endpoints not ready, `straitctl multicluster gateways`
// says east is not alive, new connections to web-east fail fast with no_ready_endpoints, and
// api-federated (pod endpoints, flat routing) keeps answering. The gateway comes back: all
// recovers.
#include "tests/integration/multicluster/mc_env.h"

namespace strait::multicluster_it {
namespace {

using Clock = std::chrono::steady_clock;

TEST_F(MulticlusterTest, GatewayFailureMarksMirrorsNotReadyFailsFastAndRecovers) {
  ASSERT_OK(up({"east", "west"}, Topology::mixed));
  ASSERT_OK(http_service("east", "web", "web", {{kExported, "true"}}));
  ASSERT_OK(http_service("east", "api", "api", {{kFederated, "member"}}));
  ASSERT_OK(http_service("west", "api", "api", {{kFederated, "member"}}));
  ASSERT_OK(m().link("west", "east"));

  // ---- healthy ----
  auto web = m().wait_service("west", "shop", "web-east", 1, 30s, /*exact=*/true);
  ASSERT_OK(web);
  auto fed = m().wait_service("west", "shop", "api-federated", 2, 30s, /*exact=*/true);
  ASSERT_OK(fed);
  const std::string web_url = "http://" + web->service.cluster_ip + "/";
  const std::string fed_url = "http://" + fed->service.cluster_ip + "/";
  std::string last;
  ASSERT_TRUE(curl_until("west/client", web_url, "hello from east-web", 30s, &last)) << last;
  std::set<std::string> seen;
  EXPECT_TRUE(collect_bodies("west/client", fed_url, {"hello from east-api", "hello from west-api"},
                             30s, &seen))
      << ::testing::PrintToString(seen);
  std::string gateways;
  auto row = gateway_row("west", "east", &gateways);
  ASSERT_TRUE(row.is_object()) << gateways;
  EXPECT_EQ(json_at(row, "alive"), boost::json::value(true)) << gateways;

  // ---- east's gateway dies ----
  const auto killed = Clock::now();
  ASSERT_OK(m().stop("east", "gateway"));
  // Probe period 3 s x threshold 3 = 9 s, plus jitter, the write and the poll: 20 s.
  auto down = m().wait_service("west", "shop", "web-east", 0, 20s, /*exact=*/true);
  ASSERT_OK(down);
  EXPECT_EQ(down->endpoints.size(), 1u) << "the endpoint is kept, only marked not ready";
  const auto marked = Clock::now() - killed;
  // Not before the threshold: the third failed round comes 2 periods (-10 % jitter) after the
  // first at the earliest.
  EXPECT_GT(marked, 4500ms);
  EXPECT_TRUE(harness::wait_until(
                  [&] {
                    row = gateway_row("west", "east", &gateways);
                    return json_at(row, "alive") == boost::json::value(false);
                  },
                  harness::deadline_in(10s))
                  .ok())
      << gateways;
  auto link = link_entry("west", "east");
  EXPECT_EQ(json_at(link, "gateway.alive"), boost::json::value(false)) << link;

  // New requests to web-east fail fast (3 s): 503 with strait-proxy-error, counted with their
  // reason. The client's proxy may still hold the endpoint as ready for a moment: until it
  // refuses.
  const Labels refused = {{"direction", "outbound"}, {"reason", "no_ready_endpoints"}};
  const double refused_before =
      std::max(0.0, metric("west/client", "proxy_refused_total", refused));
  Clock::duration took{};
  harness::ExecResult r;
  EXPECT_TRUE(harness::wait_until(
                  [&] {
                    const auto start = Clock::now();
                    r = m().exec("west/client",
                                 {"curl", "-sS", "--max-time", "10", "-D", "-", web_url}, 20s);
                    took = Clock::now() - start;
                    return r.success() && r.out.rfind("HTTP/1.1 503", 0) == 0 &&
                           r.out.find("strait-proxy-error: no_ready_endpoints") !=
                               std::string::npos &&
                           metric("west/client", "proxy_refused_total", refused) > refused_before;
                  },
                  harness::deadline_in(30s), 100ms)
                  .ok())
      << r.status.to_string() << " " << r.out << r.err << "\n"
      << m().metrics("west/client");
  EXPECT_LT(took, 6s) << "not failed fast: " << r.err;
  EXPECT_GE(took, 2s) << "the proxy waited for a ready endpoint before refusing: " << r.err;

  // The federated service keeps answering from its members (pod endpoints, no gateway).
  EXPECT_TRUE(collect_bodies("west/client", fed_url, {"hello from east-api", "hello from west-api"},
                             30s, &seen))
      << ::testing::PrintToString(seen);
  for (const auto& body : seen) EXPECT_EQ(body.rfind("error", 0), std::string::npos) << body;

  // ---- the gateway comes back ----
  ASSERT_OK(m().start("east", "gateway"));
  auto up_again = m().wait_service("west", "shop", "web-east", 1, 20s, /*exact=*/true);
  ASSERT_OK(up_again);
  EXPECT_TRUE(curl_until("west/client", web_url, "hello from east-web", 20s, &last)) << last;
  EXPECT_TRUE(harness::wait_until(
                  [&] {
                    row = gateway_row("west", "east", &gateways);
                    return json_at(row, "alive") == boost::json::value(true);
                  },
                  harness::deadline_in(10s))
                  .ok())
      << gateways;
  EXPECT_EQ(json_at(link_entry("west", "east"), "gateway.alive"), boost::json::value(true));
}

}  // namespace
}  // namespace strait::multicluster_it
