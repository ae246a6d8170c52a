// The real strait-controller's DNS (listen.dns on a free loopback port, from run/endpoints.json),
// asked by dig: services applied through the admin API, headless services and their ready
// endpoints, deletion, and the store's names surviving a restart.
#include <gtest/gtest.h>

#include "tests/controlplane/integration/controller_process.h"
#include "tests/controlplane/integration/test_objects.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;

class ControllerDns : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(c.install().ok());
    auto r = c.start();
    ASSERT_TRUE(r.ok()) << r.error().to_string() << "\n" << c.log();
    ASSERT_FALSE(c.dns_address().empty()) << "no \"dns\" in run/endpoints.json";
  }
  // dig +short against the controller.
  std::string dig(std::vector<std::string> args) {
    const auto& a = c.dns_address();
    std::vector<std::string> argv = {"/usr/bin/dig", "@" + a.substr(0, a.rfind(':')),
                                     "-p",           a.substr(a.rfind(':') + 1),
                                     "+tries=1",     "+time=2"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_process(argv, 10s);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  }
  std::string vip_of(const std::string& ns, const std::string& name) {
    auto list = c.list(discovery::Kind::kService, ns);
    if (!list) return "";
    for (const auto& o : *list) {
      const auto& s = std::get<discovery::Service>(o);
      if (s.meta.name == name) return s.cluster_ip;
    }
    return "";
  }

  ControllerProcess c;
};

TEST_F(ControllerDns, AppliedServicesResolveAndDeletedOnesAreNxdomain) {
  ASSERT_TRUE(c.apply({service("shop", "web", 80, 8080)}).ok());
  const std::string vip = vip_of("shop", "web");
  ASSERT_FALSE(vip.empty());
  EXPECT_EQ(dig({"+short", "web.shop.svc.cluster.local"}), vip + "\n");
  EXPECT_EQ(dig({"+short", "SRV", "_http._tcp.web.shop.svc.cluster.local"}),
            "0 100 80 web.shop.svc.cluster.local.\n");
  ASSERT_TRUE(c.remove(discovery::Kind::kService, "shop", "web").ok());
  auto out = dig({"web.shop.svc.cluster.local"});
  EXPECT_NE(out.find("status: NXDOMAIN"), std::string::npos) << out;
  // The counters are on the admin port.
  auto metrics = c.get("/metrics");
  EXPECT_GE(metric_value(metrics.body, "dns_responses_total{rcode=\"NXDOMAIN\"}"), 1)
      << metrics.body.substr(0, 1000);
}

TEST_F(ControllerDns, AHeadlessServiceResolvesToItsReadyEndpoints) {
  auto headless = std::get<discovery::Service>(service("shop", "db", 5432));
  headless.cluster_ip = std::string(discovery::kHeadless);
  auto ready = std::get<discovery::Endpoint>(endpoint("shop", "db-0", "db", "198.18.1.20", 5432));
  ready.ready = true;
  auto other = std::get<discovery::Endpoint>(endpoint("shop", "db-1", "db", "198.18.1.21", 5432));
  other.ready = false;
  ASSERT_TRUE(c.apply({headless}).ok());
  // No virtual IP was allocated, and no endpoint is ready yet: NXDOMAIN.
  EXPECT_EQ(vip_of("shop", "db"), "None");
  auto out = dig({"db.shop.svc.cluster.local"});
  EXPECT_NE(out.find("status: NXDOMAIN"), std::string::npos) << out;
  ASSERT_TRUE(c.apply({ready, other}).ok());
  EXPECT_EQ(dig({"+short", "db.shop.svc.cluster.local"}), "198.18.1.20\n");
  EXPECT_EQ(dig({"+short", "198-18-1-20.db.shop.svc.cluster.local"}), "198.18.1.20\n");
  EXPECT_EQ(dig({"+short", "-x", "198.18.1.20"}), "198-18-1-20.db.shop.svc.cluster.local.\n");
}

TEST_F(ControllerDns, NamesComeBackAfterARestart) {
  ASSERT_TRUE(c.apply({service("shop", "web", 80)}).ok());
  const std::string vip = vip_of("shop", "web");
  ASSERT_TRUE(c.restart().ok()) << c.log();
  EXPECT_EQ(dig({"+short", "web.shop.svc.cluster.local"}), vip + "\n");
}

}  // namespace
}  // namespace strait::controlplane::testing
