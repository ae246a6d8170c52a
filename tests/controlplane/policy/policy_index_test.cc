// PolicyIndex: which Server applies to a workload port, its authorizations, and when
// subscribers are pushed a new policy.
#include <gtest/gtest.h>

#include <vector>

#include "controlplane/policy/policy_index.h"

namespace strait::controlplane {
namespace {

namespace pv = policy::v1;
using discovery::AuthorizationPolicy;
using discovery::Event;
using discovery::Labels;
using discovery::ProtocolHint;
using discovery::Server;

Server server(std::string ns, std::string name, Labels selector, std::uint16_t port,
              ProtocolHint protocol = ProtocolHint::kHttp1) {
  Server s;
  s.meta.ns = std::move(ns);
  s.meta.name = std::move(name);
  s.pod_selector = std::move(selector);
  s.port = port;
  s.proxy_protocol = protocol;
  return s;
}

AuthorizationPolicy authz(std::string ns, std::string name, std::string target,
                          std::vector<std::string> identities = {},
                          std::vector<std::string> networks = {}, bool unauthenticated = false) {
  AuthorizationPolicy a;
  a.meta.ns = std::move(ns);
  a.meta.name = std::move(name);
  a.target_server = std::move(target);
  a.identities = std::move(identities);
  a.networks = std::move(networks);
  a.unauthenticated = unauthenticated;
  return a;
}

Event added(discovery::Object o) { return Event{Event::Type::kAdded, std::move(o)}; }
Event modified(discovery::Object o) { return Event{Event::Type::kModified, std::move(o)}; }
Event deleted(discovery::Object o) { return Event{Event::Type::kDeleted, std::move(o)}; }

const Labels kWebPod = {{"app", "web"}, {"version", "v1"}};

struct Recorder {
  std::vector<pv::InboundPolicy> pushed;
  bool accept = true;
  PolicyIndex::Sink sink() {
    return [this](pv::InboundPolicy p) {
      pushed.push_back(std::move(p));
      return accept;
    };
  }
};

std::vector<std::string> names_of(const pv::InboundPolicy& p) {
  std::vector<std::string> out;
  for (const auto& a : p.authorizations()) out.push_back(a.name());
  return out;
}

TEST(PolicyIndexTest, NoServerGivesTheClusterDefault) {
  for (auto def : {pv::ALL_AUTHENTICATED, pv::ALL_UNAUTHENTICATED, pv::DENY}) {
    PolicyIndex index(def);
    auto p = index.compute("shop", kWebPod, 8080);
    EXPECT_EQ(p.port(), 8080u);
    EXPECT_EQ(p.server(), "");
    EXPECT_EQ(p.default_policy(), def);
    EXPECT_EQ(p.authorizations_size(), 0);
  }
}

TEST(PolicyIndexTest, SelectingServerDeniesByDefaultAndCarriesItsAuthorizationsOnly) {
  PolicyIndex index(pv::ALL_UNAUTHENTICATED);
  index.apply(added(server("shop", "web-http", {{"app", "web"}}, 8080, ProtocolHint::kHttp2)));
  index.apply(added(server("shop", "web-admin", {{"app", "web"}}, 9990)));
  index.apply(added(authz("shop", "allow-frontend", "web-http",
                          {"spiffe://west.example/ns/shop/sa/frontend"}, {"10.0.0.0/8"})));
  index.apply(added(authz("shop", "allow-probes", "web-http", {}, {}, true)));
  index.apply(added(authz("shop", "admin-only", "web-admin", {"*"})));
  index.apply(added(authz("other", "elsewhere", "web-http", {"*"})));  // same name, other ns

  auto p = index.compute("shop", kWebPod, 8080);
  EXPECT_EQ(p.port(), 8080u);
  EXPECT_EQ(p.server(), "web-http");
  EXPECT_EQ(p.protocol(), common::v1::PROTOCOL_HTTP2);
  EXPECT_EQ(p.default_policy(), pv::DENY);
  ASSERT_EQ(names_of(p), (std::vector<std::string>{"allow-frontend", "allow-probes"}));
  const auto& frontend = p.authorizations(0);
  ASSERT_EQ(frontend.identities_size(), 1);
  EXPECT_EQ(frontend.identities(0), "spiffe://west.example/ns/shop/sa/frontend");
  ASSERT_EQ(frontend.networks_size(), 1);
  EXPECT_EQ(frontend.networks(0), "10.0.0.0/8");
  EXPECT_FALSE(frontend.unauthenticated());
  EXPECT_TRUE(p.authorizations(1).unauthenticated());

  auto admin = index.compute("shop", kWebPod, 9990);
  EXPECT_EQ(admin.server(), "web-admin");
  EXPECT_EQ(admin.default_policy(), pv::DENY);
  EXPECT_EQ(names_of(admin), std::vector<std::string>{"admin-only"});
}

TEST(PolicyIndexTest, ServerWithoutAuthorizationsDeniesEverything) {
  PolicyIndex index(pv::ALL_AUTHENTICATED);
  index.apply(added(server("shop", "web-http", {{"app", "web"}}, 8080)));
  auto p = index.compute("shop", kWebPod, 8080);
  EXPECT_EQ(p.server(), "web-http");
  EXPECT_EQ(p.default_policy(), pv::DENY);
  EXPECT_EQ(p.authorizations_size(), 0);
}

TEST(PolicyIndexTest, EmptySelectorSelectsEveryWorkloadOfTheNamespace) {
  PolicyIndex index(pv::ALL_AUTHENTICATED);
  index.apply(added(server("shop", "all-8080", {}, 8080)));
  EXPECT_EQ(index.compute("shop", kWebPod, 8080).server(), "all-8080");
  EXPECT_EQ(index.compute("shop", {}, 8080).server(), "all-8080");
  EXPECT_EQ(index.compute("other", kWebPod, 8080).server(), "");
}

TEST(PolicyIndexTest, ServersThatDoNotSelectTheWorkloadPortDoNotApply) {
  PolicyIndex index(pv::ALL_AUTHENTICATED);
  index.apply(added(server("other", "other-ns", {{"app", "web"}}, 8080)));
  index.apply(added(server("shop", "other-labels", {{"app", "api"}}, 8080)));
  index.apply(added(server("shop", "extra-label", {{"app", "web"}, {"tier", "gold"}}, 8080)));
  index.apply(added(server("shop", "other-port", {{"app", "web"}}, 8081)));
  index.apply(added(authz("shop", "a", "other-labels", {"*"})));
  auto p = index.compute("shop", kWebPod, 8080);
  EXPECT_EQ(p.server(), "");
  EXPECT_EQ(p.default_policy(), pv::ALL_AUTHENTICATED);
  EXPECT_EQ(p.authorizations_size(), 0);
}

TEST(PolicyIndexTest, SeveralSelectingServersPickTheFirstByName) {
  PolicyIndex index(pv::ALL_AUTHENTICATED);
  index.apply(added(server("shop", "zeta", {{"app", "web"}}, 8080)));
  index.apply(added(server("shop", "alpha", {}, 8080)));
  EXPECT_EQ(index.compute("shop", kWebPod, 8080).server(), "alpha");
}

TEST(PolicyIndexTest, DeletedServerRestoresTheDefault) {
  PolicyIndex index(pv::ALL_UNAUTHENTICATED);
  auto s = server("shop", "web-http", {{"app", "web"}}, 8080);
  index.apply(added(s));
  ASSERT_EQ(index.compute("shop", kWebPod, 8080).server(), "web-http");
  index.apply(deleted(s));
  auto p = index.compute("shop", kWebPod, 8080);
  EXPECT_EQ(p.server(), "");
  EXPECT_EQ(p.default_policy(), pv::ALL_UNAUTHENTICATED);
}

TEST(PolicyIndexTest, SubscribeSendsTheCurrentPolicyThenChanges) {
  PolicyIndex index(pv::ALL_AUTHENTICATED);
  index.apply(added(server("shop", "web-http", {{"app", "web"}}, 8080)));
  Recorder r;
  index.subscribe(index.reserve_id(), "shop", kWebPod, 8080, r.sink());
  ASSERT_EQ(r.pushed.size(), 1u);
  EXPECT_EQ(r.pushed[0].server(), "web-http");
  EXPECT_EQ(r.pushed[0].authorizations_size(), 0);

  auto a =
      authz("shop", "allow-frontend", "web-http", {"spiffe://west.example/ns/shop/sa/frontend"});
  index.apply(added(a));
  ASSERT_EQ(r.pushed.size(), 2u);
  EXPECT_EQ(names_of(r.pushed[1]), std::vector<std::string>{"allow-frontend"});

  // Modified: pushed again with the new content.
  a.identities.push_back("spiffe://west.example/ns/shop/sa/admin");
  index.apply(modified(a));
  ASSERT_EQ(r.pushed.size(), 3u);
  ASSERT_EQ(r.pushed[2].authorizations_size(), 1);
  EXPECT_EQ(r.pushed[2].authorizations(0).identities_size(), 2);

  // Deleted.
  index.apply(deleted(a));
  ASSERT_EQ(r.pushed.size(), 4u);
  EXPECT_EQ(r.pushed[3].authorizations_size(), 0);
  EXPECT_EQ(r.pushed[3].default_policy(), pv::DENY);
}

TEST(PolicyIndexTest, ServerAppearingIsPushed) {
  PolicyIndex index(pv::ALL_AUTHENTICATED);
  Recorder r;
  index.subscribe(index.reserve_id(), "shop", kWebPod, 8080, r.sink());
  ASSERT_EQ(r.pushed.size(), 1u);
  EXPECT_EQ(r.pushed[0].server(), "");
  EXPECT_EQ(r.pushed[0].default_policy(), pv::ALL_AUTHENTICATED);
  index.apply(added(server("shop", "web-http", {{"app", "web"}}, 8080)));
  ASSERT_EQ(r.pushed.size(), 2u);
  EXPECT_EQ(r.pushed[1].server(), "web-http");
  EXPECT_EQ(r.pushed[1].default_policy(), pv::DENY);
}

TEST(PolicyIndexTest, UnrelatedChangesPushNothing) {
  PolicyIndex index(pv::ALL_AUTHENTICATED);
  auto s = server("shop", "web-http", {{"app", "web"}}, 8080);
  auto a = authz("shop", "allow-frontend", "web-http", {"*"});
  index.apply(added(s));
  index.apply(added(a));
  Recorder r;
  index.subscribe(index.reserve_id(), "shop", kWebPod, 8080, r.sink());
  ASSERT_EQ(r.pushed.size(), 1u);

  // Another namespace.
  index.apply(added(server("other", "web-http", {{"app", "web"}}, 8080)));
  index.apply(added(authz("other", "allow-all", "web-http", {"*"})));
  // The same namespace, but not this workload port.
  index.apply(added(server("shop", "api-http", {{"app", "api"}}, 8080)));
  index.apply(added(authz("shop", "allow-api", "api-http", {"*"})));
  index.apply(added(server("shop", "web-admin", {{"app", "web"}}, 9990)));
  // Identical re-applies.
  index.apply(modified(s));
  index.apply(modified(a));
  // Objects the policy index does not care about.
  discovery::Service svc;
  svc.meta.ns = "shop";
  svc.meta.name = "web";
  index.apply(added(svc));
  EXPECT_EQ(r.pushed.size(), 1u);
}

TEST(PolicyIndexTest, RefusingSinkAndUnsubscribeStopDelivery) {
  PolicyIndex index(pv::ALL_AUTHENTICATED);
  Recorder refusing, unsubscribed, kept;
  refusing.accept = false;
  index.subscribe(index.reserve_id(), "shop", kWebPod, 8080, refusing.sink());
  auto id = index.reserve_id();
  index.subscribe(id, "shop", kWebPod, 8080, unsubscribed.sink());
  index.subscribe(index.reserve_id(), "shop", kWebPod, 8080, kept.sink());
  index.unsubscribe(id);
  index.apply(added(server("shop", "web-http", {{"app", "web"}}, 8080)));
  index.apply(added(authz("shop", "a", "web-http", {"*"})));
  EXPECT_EQ(refusing.pushed.size(), 1u);
  EXPECT_EQ(unsubscribed.pushed.size(), 1u);
  EXPECT_EQ(kept.pushed.size(), 3u);
}

}  // namespace
}  // namespace strait::controlplane
