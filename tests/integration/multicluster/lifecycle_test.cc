// The life of a link's mirrors: an unexported service loses its mirror; a strait-link restarted
// (with a service unexported while it was down) converges to exactly what east exports — no
// orphan, no duplicate; `straitctl multicluster unlink` removes every object of the link.
#include "tests/integration/multicluster/mc_env.h"

namespace strait::multicluster_it {
namespace {

// The objects of one mirror `<svc>-east` (its Service and Endpoints) in a set from objects_from.
std::set<std::string> without(std::set<std::string> objects, const std::string& mirror) {
  std::erase_if(objects, [&](const std::string& o) {
    return o == "Service shop/" + mirror || o.rfind("Endpoint shop/" + mirror + "-", 0) == 0;
  });
  return objects;
}

std::string show(const std::set<std::string>& s) { return ::testing::PrintToString(s); }

TEST_F(MulticlusterTest, MirrorsFollowUnexportRestartAndUnlink) {
  ASSERT_OK(up({"east", "west"}, Topology::mixed));
  ASSERT_OK(http_service("east", "web", "web", {{kExported, "true"}}));
  ASSERT_OK(http_service("east", "cart", "cart", {{kExported, "remote-discovery"}}));
  ASSERT_OK(http_service("east", "db", "db", {{kExported, "true"}}));
  ASSERT_OK(m().link("west", "east"));

  for (const char* name : {"web-east", "cart-east", "db-east"}) {
    ASSERT_OK(m().wait_service("west", "shop", name, 1, 30s, /*exact=*/true));
  }
  auto all = objects_from("west", "east");
  ASSERT_OK(all);
  // A Service and one Endpoint per mirror (web and db: east's one gateway; cart: its one pod).
  ASSERT_EQ(all->size(), 6u) << show(*all);

  // ---- unexport: db's Service loses its export label ----
  ASSERT_OK(m().apply("east", service_yaml("db", {})));
  const auto after_unexport = without(*all, "db-east");
  ASSERT_EQ(after_unexport.size(), 4u) << show(*all);
  Result<std::set<std::string>> now = make_error("unset", "");
  EXPECT_TRUE(harness::wait_until(
                  [&] {
                    now = objects_from("west", "east");
                    return now && *now == after_unexport;
                  },
                  harness::deadline_in(20s))
                  .ok())
      << (now ? show(*now) : now.error().to_string());

  // ---- restart: strait-link down while east unexports cart, then up again ----
  ASSERT_OK(m().stop("west", "link"));
  ASSERT_OK(m().apply("east", service_yaml("cart", {})));
  auto stale = objects_from("west", "east");
  ASSERT_OK(stale);
  EXPECT_EQ(*stale, after_unexport) << "nothing removes mirrors while strait-link is down";
  ASSERT_OK(m().start("west", "link"));
  const auto after_restart = without(after_unexport, "cart-east");
  ASSERT_EQ(after_restart.size(), 2u);
  EXPECT_TRUE(harness::wait_until(
                  [&] {
                    auto link = link_entry("west", "east");
                    if (json_at(link, "synced") != boost::json::value(true)) return false;
                    now = objects_from("west", "east");
                    return now && *now == after_restart;
                  },
                  harness::deadline_in(30s))
                  .ok())
      << (now ? show(*now) : now.error().to_string()) << "\n"
      << m().link_status("west");
  // Synced and settled: still exactly one web-east with its one endpoint, and it works.
  auto web = m().service("west", "shop", "web-east");
  ASSERT_OK(web);
  EXPECT_EQ(web->endpoints.size(), 1u);
  EXPECT_EQ(web->ready(), 1);
  std::string last;
  EXPECT_TRUE(curl_until("west/client", "http://" + web->service.cluster_ip + "/",
                         "hello from east-web", 20s, &last))
      << last;
  now = objects_from("west", "east");
  ASSERT_OK(now);
  EXPECT_EQ(*now, after_restart);

  // ---- unlink: the Link and every object it wrote go ----
  auto unlinked = m().straitctl("west", {"multicluster", "unlink", "--cluster-name", "east"});
  ASSERT_OK(unlinked);
  EXPECT_NE(unlinked->find("unlinked cluster east"), std::string::npos) << *unlinked;
  auto links = list("west", "links");
  ASSERT_OK(links);
  EXPECT_TRUE(links->empty());
  // strait-link notices at its next poll and drops the watcher; nothing may come back.
  EXPECT_TRUE(
      harness::wait_until([&] { return link_count("west") == 0; }, harness::deadline_in(10s)).ok())
      << m().link_status("west");
  now = objects_from("west", "east");
  ASSERT_OK(now);
  EXPECT_TRUE(now->empty()) << show(*now);
  auto gone = m().service("west", "shop", "web-east");
  EXPECT_FALSE(gone.ok());
}

}  // namespace
}  // namespace strait::multicluster_it
