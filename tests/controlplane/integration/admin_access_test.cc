// Who may talk to the destination port: the admin API only for the straitctl identity, and the
// port as a whole only with a client certificate from the cluster's trust anchor.
#include <gtest/gtest.h>

#include "core/tls/authority.h"
#include "core/tls/csr.h"
#include "core/tls/key.h"
#include "strait/destination.grpc.pb.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/controlplane/integration/stream_reader.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;
namespace dst = destination::v1;

class AdminAccess : public ::testing::Test {
 protected:
  void SetUp() override {
    auto i = c_.install();
    ASSERT_TRUE(i) << i.error().to_string();
    auto s = c_.start();
    ASSERT_TRUE(s) << s.error().to_string();
  }

  grpc::Status list_services(const ClientCredentials& creds) {
    auto stub = admin::v1::Admin::NewStub(c_.channel(creds));
    admin::v1::ListRequest req;
    req.set_kind("Service");
    admin::v1::ListResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    return stub->List(&ctx, req, &resp);
  }

  ControllerProcess c_;
};

TEST_F(AdminAccess, OnlyTheAdminIdentityMayUseTheAdminApi) {
  EXPECT_TRUE(list_services(c_.admin_credentials()).ok());

  auto w = c_.certify_workload("shop", "web");
  ASSERT_TRUE(w) << w.error().to_string();
  auto creds = ControllerProcess::credentials_of(*w, c_.anchor_pem());
  auto s = list_services(creds);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("spiffe://east.strait/ns/shop/sa/web"), std::string::npos)
      << s.error_message();

  // A workload certificate for a look-alike name in the admin namespace is no better.
  auto imposter = c_.certify_workload("strait-system", "straitctl-not");
  ASSERT_TRUE(imposter) << imposter.error().to_string();
  EXPECT_EQ(
      list_services(ControllerProcess::credentials_of(*imposter, c_.anchor_pem())).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);

  // Every mutating call is refused the same way.
  auto stub = admin::v1::Admin::NewStub(c_.channel(creds));
  admin::v1::IssueTokenRequest req;
  req.set_namespace_("strait-system");
  req.set_service_account("straitctl");
  req.set_ttl_seconds(60);
  admin::v1::IssueTokenResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  EXPECT_EQ(stub->IssueToken(&ctx, req, &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(resp.token().empty());

  auto metrics = c_.get("/metrics");
  EXPECT_GE(metric_value(metrics.body, "admin_api_refused_total{reason=\"not_admin\"}"), 3.0)
      << metrics.body;
}

TEST_F(AdminAccess, TheDestinationPortRequiresAClientCertificateFromTheAnchor) {
  // No client certificate at all.
  ClientCredentials anonymous{c_.anchor_pem(), "", ""};
  EXPECT_EQ(list_services(anonymous).error_code(), grpc::StatusCode::UNAVAILABLE);
  {
    auto stub = dst::Destination::NewStub(c_.channel(anonymous));
    dst::GetDestination req;
    req.set_path("web.shop.svc.cluster.local:80");
    StreamReader<dst::Update> r([&](grpc::ClientContext* ctx) {
      ctx->set_deadline(std::chrono::system_clock::now() + 5s);
      return stub->Get(ctx, req);
    });
    auto status = r.wait_finished(10s);
    ASSERT_TRUE(status.has_value()) << "the stream should fail, not hang";
    EXPECT_EQ(status->error_code(), grpc::StatusCode::UNAVAILABLE) << status->error_message();
    EXPECT_EQ(r.received(), 0u);
  }

  // The admin identity, but signed by a CA the controller does not trust.
  auto root = tls::CertificateAuthority::create_root("rogue", 1h);
  ASSERT_TRUE(root);
  auto key = tls::PrivateKey::generate_p256();
  auto id = identity::SpiffeId::parse("spiffe://east.strait/ns/strait-system/sa/straitctl");
  auto csr = tls::CertificateRequest::from_pem(*tls::make_csr(*key, *id));
  auto leaf = root->issue_leaf(*csr, *id, 1h);
  ASSERT_TRUE(leaf) << leaf.error().to_string();
  ClientCredentials rogue{c_.anchor_pem(), leaf->to_pem(), key->to_pem()};
  EXPECT_EQ(list_services(rogue).error_code(), grpc::StatusCode::UNAVAILABLE);

  // The identity port, on the other hand, is for workloads that have no certificate yet.
  EXPECT_TRUE(c_.certify_workload("shop", "web"));
}

}  // namespace
}  // namespace strait::controlplane::testing
