// straitctl end to end against the running controller: apply a manifest, read it back, and the
// messages of the common mistakes (unknown kind, a field out of range, no controller).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>

#include "tests/controlplane/integration/controller_process.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kManifest = R"(apiVersion: strait.dev/v1alpha1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  ports:
    - name: http
      port: 80
      targetPort: 8080
---
apiVersion: strait.dev/v1alpha1
kind: Server
metadata:
  name: web-http
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: web
  port: 8080
  proxyProtocol: http1
---
apiVersion: strait.dev/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: web-allow
  namespace: shop
spec:
  targetRef:
    kind: Server
    name: web-http
  requiredAuthentication:
    identities:
      - "spiffe://east.strait/ns/shop/*"
)";

constexpr const char* kBadPort = R"(apiVersion: strait.dev/v1alpha1
kind: Service
metadata:
  name: broken
  namespace: shop
spec:
  ports:
    - name: http
      port: 70000
)";

class StraitctlIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(c_.install());
    auto s = c_.start();
    ASSERT_TRUE(s) << s.error().to_string();
  }

  ProcessResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), ControllerProcess::straitctl_binary());
    args.push_back("--state-dir");
    args.push_back(c_.state_dir().string());
    return run_process(args, 30s);
  }

  std::string write(const std::string& name, const std::string& content) {
    auto p = c_.state_dir().parent_path() / name;
    std::ofstream(p) << content;
    return p.string();
  }

  ControllerProcess c_;
};

TEST_F(StraitctlIntegration, AppliesAndReadsBackAManifest) {
  auto applied = ctl({"apply", "-f", write("app.yaml", kManifest)});
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  EXPECT_NE(applied.output.find("Service shop/web applied"), std::string::npos) << applied.output;
  EXPECT_NE(applied.output.find("AuthorizationPolicy shop/web-allow applied"), std::string::npos)
      << applied.output;

  auto got = ctl({"get", "services", "-o", "json"});
  ASSERT_EQ(got.exit_code, 0) << got.output;
  boost::system::error_code ec;
  auto json = boost::json::parse(got.output, ec);
  ASSERT_FALSE(ec) << got.output;
  EXPECT_NE(got.output.find("\"web\""), std::string::npos) << got.output;
  EXPECT_NE(got.output.find("\"shop\""), std::string::npos) << got.output;

  // The controller holds what straitctl applied, with a virtual IP allocated.
  auto services = c_.list(discovery::Kind::kService, "shop");
  ASSERT_TRUE(services);
  ASSERT_EQ(services->size(), 1u);
  EXPECT_FALSE(std::get<discovery::Service>(services->front()).cluster_ip.empty());
  auto policies = c_.list(discovery::Kind::kAuthorizationPolicy, "shop");
  ASSERT_TRUE(policies);
  ASSERT_EQ(policies->size(), 1u);
  EXPECT_EQ(std::get<discovery::AuthorizationPolicy>(policies->front()).target_server, "web-http");

  auto policies_out = ctl({"get", "policies", "-n", "shop"});
  EXPECT_EQ(policies_out.exit_code, 0) << policies_out.output;
  EXPECT_NE(policies_out.output.find("web-allow"), std::string::npos) << policies_out.output;

  auto status = ctl({"status"});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("east"), std::string::npos) << status.output;
}

TEST_F(StraitctlIntegration, NamesTheMistake) {
  auto unknown = ctl({"get", "foo"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find("unknown kind \"foo\""), std::string::npos) << unknown.output;

  auto bad = ctl({"apply", "-f", write("bad.yaml", kBadPort)});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("spec.ports[0].port"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("70000"), std::string::npos) << bad.output;
  auto services = c_.list(discovery::Kind::kService);
  ASSERT_TRUE(services);
  EXPECT_TRUE(services->empty()) << "nothing of a refused manifest may be applied";

  // With the controller stopped, status says it cannot reach it (within its own deadline).
  ASSERT_EQ(c_.stop(), 0);
  auto down = ctl({"status"});
  EXPECT_NE(down.exit_code, 0);
  EXPECT_TRUE(down.output.find("cannot reach the controller") != std::string::npos ||
              down.output.find("not started") != std::string::npos)
      << down.output;
}

}  // namespace
}  // namespace strait::controlplane::testing
