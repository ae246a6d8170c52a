// A subscriber that stops reading must not hold the others back: with a small send queue
// (--streams.queueCapacity=8) the stuck destination stream is cut off with RESOURCE_EXHAUSTED
// and counted, while a stream that reads keeps receiving every change.
#include <gtest/gtest.h>

#include "controlplane/server/controller_config.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/controlplane/integration/destination_watch.h"
#include "tests/controlplane/integration/test_objects.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;
using discovery::Kind;
namespace dst = destination::v1;

// Like make_channel, but on a connection of its own with a fixed, small HTTP/2 window (no BDP
// probing), so that a stream nobody reads fills up after a few messages.
std::shared_ptr<grpc::Channel> stuck_channel(const std::string& address,
                                             const ClientCredentials& c) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = c.anchor_pem;
  tls.pem_cert_chain = c.cert_chain_pem;
  tls.pem_private_key = c.key_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(kControllerServerName);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt("strait.test.stuck", 1);  // never share a connection with the reading stream
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(tls), args);
}

TEST(SlowSubscriber, IsCutOffWhileTheReaderKeepsUp) {
  ControllerProcess c({.flags = {"--streams.queueCapacity=8"}});
  ASSERT_TRUE(c.install());
  auto started = c.start();
  ASSERT_TRUE(started) << started.error().to_string();
  ASSERT_TRUE(c.apply(
      {service("shop", "web", 80, 8080), endpoint("shop", "web-0", "web", "10.0.0.1", 8080)}));
  const auto admin = c.admin_credentials();
  const std::string path = "web.shop.svc.cluster.local:80";

  DestinationWatch reading(c.channel(admin), path);
  ASSERT_TRUE(reading.wait_for_addrs({"10.0.0.1:8080"}, 10s)) << reading.history();

  // The stuck stream: opened, then never read until the end of the test.
  auto stuck_stub = dst::Destination::NewStub(stuck_channel(c.destination_address(), admin));
  grpc::ClientContext stuck_ctx;
  stuck_ctx.set_deadline(std::chrono::system_clock::now() + 90s);
  dst::GetDestination req;
  req.set_path(path);
  auto stuck = stuck_stub->Get(&stuck_ctx, req);
  // The controller holds both subscriptions before the churn starts.
  ASSERT_TRUE(wait_until(
      [&] {
        return metric_value(c.get("/metrics").body,
                            "controller_streams_open{api=\"destination\"}") >= 2;
      },
      10s));

  // Churn: an endpoint with a large label comes and goes; each add is ~16 KiB on the wire.
  const std::string big(16 * 1024, 'x');
  const std::string overflow_sample = "controller_stream_overflows_total{api=\"destination\"}";
  bool cut_off = false;
  int changes = 0;
  for (int i = 0; i < 1500 && !cut_off; ++i) {
    auto e = endpoint("shop", "churn", "web", "10.0.0.2", 8080,
                      {{"gen", std::to_string(i)}, {"payload", big}});
    auto a = c.apply({e});
    ASSERT_TRUE(a) << a.error().to_string();
    auto r = c.remove(Kind::kEndpoint, "shop", "churn");
    ASSERT_TRUE(r) << r.error().to_string();
    changes += 2;
    if (i % 8 == 7) cut_off = metric_value(c.get("/metrics").body, overflow_sample) >= 1;
  }
  ASSERT_TRUE(cut_off) << "the stuck stream was never cut off after " << changes << " changes";

  // The reader has kept up: the latest change reaches it, and it was never cut off.
  ASSERT_TRUE(c.apply({endpoint("shop", "web-last", "web", "10.0.0.3", 8080, {{"gen", "last"}})}));
  ASSERT_TRUE(reading.wait_for_addrs({"10.0.0.1:8080", "10.0.0.3:8080"}, 20s))
      << "after " << reading.updates() << " updates:\n"
      << reading.history().substr(0, 4000);
  EXPECT_FALSE(reading.reader().wait_finished(0ms).has_value()) << "the reading stream was ended";
  EXPECT_GE(reading.updates(), static_cast<std::size_t>(changes))
      << "every change should have reached the reading stream";

  // Finally reading the stuck stream: what was in flight, then RESOURCE_EXHAUSTED.
  dst::Update u;
  int drained = 0;
  while (stuck->Read(&u)) ++drained;
  auto status = stuck->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_code() << " " << status.error_message() << " after " << drained
      << " messages";
  EXPECT_LT(drained, changes) << "the stuck stream should not have received everything";

  auto metrics = c.get("/metrics").body;
  EXPECT_EQ(metric_value(metrics, overflow_sample), 1.0) << metrics;
  // Only the reading stream is still open.
  EXPECT_TRUE(wait_until(
      [&] {
        return metric_value(c.get("/metrics").body,
                            "controller_streams_open{api=\"destination\"}") == 1;
      },
      5s));
}

}  // namespace
}  // namespace strait::controlplane::testing
