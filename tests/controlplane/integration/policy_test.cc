// Inbound policy streams against the real controller: the cluster default until a Server
// selects the port, then deny-by-default with the Server's authorizations, as they are applied.
#include <gtest/gtest.h>

#include "strait/policy.grpc.pb.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/controlplane/integration/stream_reader.h"
#include "tests/controlplane/integration/test_objects.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;
namespace pv = policy::v1;

std::string describe(const pv::InboundPolicy& p) { return p.ShortDebugString(); }

class PolicyIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(c_.install());
    auto s = c_.start();
    ASSERT_TRUE(s) << s.error().to_string();
    auto w = c_.certify_workload("shop", "web");
    ASSERT_TRUE(w) << w.error().to_string();
    stub_ = pv::InboundPolicies::NewStub(
        c_.channel(ControllerProcess::credentials_of(*w, c_.anchor_pem())));
  }

  std::unique_ptr<StreamReader<pv::InboundPolicy>> watch(
      std::uint32_t port, std::map<std::string, std::string> labels) {
    pv::InboundPolicyRequest req;
    req.set_port(port);
    req.mutable_workload_labels()->insert(labels.begin(), labels.end());
    return std::make_unique<StreamReader<pv::InboundPolicy>>(
        [this, req](grpc::ClientContext* ctx) { return stub_->Watch(ctx, req); });
  }

  ControllerProcess c_;
  std::unique_ptr<pv::InboundPolicies::Stub> stub_;
};

TEST_F(PolicyIntegration, FollowsServersAndAuthorizations) {
  auto web = watch(8080, {{"app", "web"}});
  auto other = watch(8080, {{"app", "db"}});

  auto first = web->next(10s);
  ASSERT_TRUE(first) << "no first policy";
  EXPECT_EQ(first->port(), 8080u);
  EXPECT_EQ(first->server(), "");
  EXPECT_EQ(first->default_policy(), pv::ALL_AUTHENTICATED) << describe(*first);
  EXPECT_EQ(first->authorizations_size(), 0);
  auto other_first = other->next(10s);
  ASSERT_TRUE(other_first);
  EXPECT_EQ(other_first->default_policy(), pv::ALL_AUTHENTICATED);

  // A Server in another namespace, or on another port, changes nothing here.
  ASSERT_TRUE(c_.apply({server("billing", "web-http", 8080, {{"app", "web"}}),
                        server("shop", "web-metrics", 9090, {{"app", "web"}})}));
  ASSERT_TRUE(c_.apply({server("shop", "web-http", 8080, {{"app", "web"}})}));
  auto denied = web->next(10s);
  ASSERT_TRUE(denied) << "no policy after the Server";
  EXPECT_EQ(denied->server(), "web-http") << describe(*denied);
  EXPECT_EQ(denied->default_policy(), pv::DENY) << describe(*denied);
  EXPECT_EQ(denied->authorizations_size(), 0);
  EXPECT_EQ(denied->protocol(), common::v1::PROTOCOL_HTTP1) << describe(*denied);

  ASSERT_TRUE(c_.apply(
      {authorization("shop", "web-allow", "web-http", {"spiffe://east.strait/ns/shop/*"})}));
  auto allowed = web->next(10s);
  ASSERT_TRUE(allowed) << "no policy after the AuthorizationPolicy";
  EXPECT_EQ(allowed->server(), "web-http");
  EXPECT_EQ(allowed->default_policy(), pv::DENY);
  ASSERT_EQ(allowed->authorizations_size(), 1) << describe(*allowed);
  EXPECT_EQ(allowed->authorizations(0).name(), "web-allow");
  ASSERT_EQ(allowed->authorizations(0).identities_size(), 1);
  EXPECT_EQ(allowed->authorizations(0).identities(0), "spiffe://east.strait/ns/shop/*");

  // Deleting the Server brings the cluster default back.
  ASSERT_TRUE(c_.remove(discovery::Kind::kServer, "shop", "web-http"));
  auto back = web->next(10s);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->server(), "") << describe(*back);
  EXPECT_EQ(back->default_policy(), pv::ALL_AUTHENTICATED);

  // The workload with other labels was never selected: nothing more arrived for it.
  auto extra = other->next(300ms);
  EXPECT_FALSE(extra) << describe(*extra);
}

TEST_F(PolicyIntegration, RefusesAPortOutOfRange) {
  auto bad = watch(0, {});
  auto status = bad->wait_finished(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status->error_message();
}

}  // namespace
}  // namespace strait::controlplane::testing
