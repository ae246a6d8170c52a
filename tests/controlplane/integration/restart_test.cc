// Restarting the controller on the same state directory: applied objects come back unchanged
// (versions included), new writes continue above them, and leased endpoints do not come back,
// whether the controller stopped cleanly or was killed.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/discovery/json_codec.h"
#include "strait/registration.grpc.pb.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/controlplane/integration/destination_watch.h"
#include "tests/controlplane/integration/test_objects.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;
using discovery::Kind;
namespace rv = registration::v1;

constexpr Kind kKinds[] = {Kind::kService, Kind::kEndpoint, Kind::kServer,
                           Kind::kAuthorizationPolicy};

// Every object of every kind as store JSON, keyed by kind/ns/name.
std::map<std::string, std::string> snapshot(const ControllerProcess& c) {
  std::map<std::string, std::string> out;
  for (auto kind : kKinds) {
    auto objects = c.list(kind);
    EXPECT_TRUE(objects) << objects.error().to_string();
    if (!objects) continue;
    for (const auto& o : *objects) {
      const auto& m = discovery::meta_of(o);
      out[std::string(discovery::kind_name(kind)) + "/" + m.ns + "/" + m.name] =
          boost::json::serialize(discovery::object_to_json(o));
    }
  }
  return out;
}

std::uint64_t max_version(const ControllerProcess& c) {
  std::uint64_t v = 0;
  for (auto kind : kKinds) {
    auto objects = c.list(kind);
    EXPECT_TRUE(objects) << objects.error().to_string();
    if (!objects) continue;
    for (const auto& o : *objects) v = std::max(v, discovery::meta_of(o).version);
  }
  return v;
}

class RestartIntegration : public ::testing::TestWithParam<bool> {};

// true: SIGTERM (clean stop, exit 0); false: SIGKILL (crash).
TEST_P(RestartIntegration, KeepsAppliedObjectsAndDropsLeases) {
  const bool clean = GetParam();
  ControllerProcess c;
  ASSERT_TRUE(c.install());
  auto started = c.start();
  ASSERT_TRUE(started) << started.error().to_string();

  ASSERT_TRUE(c.apply({service("shop", "web", 80, 8080), service("shop", "api", 9090)}));
  ASSERT_TRUE(c.apply(
      {endpoint("shop", "web-1", "web", "10.0.0.1", 8080, {{"zone", "a"}}),
       server("shop", "web-http", 8080, {{"app", "web"}}),
       authorization("shop", "web-allow", "web-http", {"spiffe://east.strait/ns/shop/*"})}));
  // A write that replaces an object: its version moves on.
  ASSERT_TRUE(c.apply({endpoint("shop", "web-1", "web", "10.0.0.1", 8080, {{"zone", "b"}})}));
  ASSERT_TRUE(c.remove(Kind::kService, "shop", "api"));

  // A leased endpoint, held by a raw stream that the restart breaks (no re-registration).
  auto w = c.certify_workload("shop", "web");
  ASSERT_TRUE(w) << w.error().to_string();
  auto stub =
      rv::Registration::NewStub(c.channel(ControllerProcess::credentials_of(*w, c.anchor_pem())));
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + 60s);
  auto stream = stub->Register(ctx.get());
  rv::RegisterRequest reg;
  reg.mutable_workload()->set_service("web");
  reg.mutable_workload()->set_port(8080);
  ASSERT_TRUE(stream->Write(reg));
  rv::RegisterResponse resp;
  ASSERT_TRUE(stream->Read(&resp));

  auto before = snapshot(c);
  const std::string leased = "Endpoint/shop/" + resp.endpoint_name();
  ASSERT_TRUE(before.contains(leased)) << "the leased endpoint should be listed";
  ASSERT_TRUE(before.contains("Endpoint/shop/web-1"));
  ASSERT_FALSE(before.contains("Service/shop/api"));
  const std::uint64_t high = max_version(c);
  before.erase(leased);

  if (clean) {
    EXPECT_EQ(c.stop(), 0) << "SIGTERM should end the controller cleanly";
  } else {
    c.kill();
  }
  stream->Read(&resp);  // the stream is gone with the process
  stream->Finish();
  stream.reset();

  auto restarted = c.start();
  ASSERT_TRUE(restarted) << restarted.error().to_string();
  auto after = snapshot(c);
  EXPECT_FALSE(after.contains(leased)) << "a lease must not survive a restart";
  EXPECT_EQ(after, before);

  // New writes get versions above everything handed out before, the lease's included.
  auto applied = c.apply({service("shop", "new", 80)});
  ASSERT_TRUE(applied) << applied.error().to_string();
  EXPECT_GT(discovery::meta_of(applied->front()).version, high);

  // And the indexes were rebuilt from the store: destination answers from the restored state.
  DestinationWatch dw(c.channel(c.admin_credentials()), "web.shop.svc.cluster.local:80");
  ASSERT_TRUE(dw.wait_for_addrs({"10.0.0.1:8080"}, 10s)) << dw.history();
  EXPECT_EQ(dw.addrs().at("10.0.0.1:8080").metric_labels().at("zone"), "b");
}

INSTANTIATE_TEST_SUITE_P(StopKinds, RestartIntegration, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Sigterm" : "Sigkill"; });

}  // namespace
}  // namespace strait::controlplane::testing
