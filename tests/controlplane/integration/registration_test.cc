// Registration leases against the real controller: a workload that certified with a join token
// registers its endpoint over a stream; the endpoint lives while the stream lives and heartbeats
// arrive, and goes when either stops.
#include <gtest/gtest.h>

#include "controlplane/client/registration_lease.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/controlplane/integration/destination_watch.h"
#include "tests/controlplane/integration/test_objects.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace rv = registration::v1;

rv::Workload workload(const std::string& service, std::uint32_t port, const std::string& ip,
                      const std::string& name) {
  rv::Workload w;
  w.set_service(service);
  w.set_port(port);
  w.set_address(ip);
  w.set_name(name);
  (*w.mutable_labels())["app"] = service;
  return w;
}

class RegistrationIntegration : public ::testing::Test {
 protected:
  void start(std::vector<std::string> flags) {
    c_ = std::make_unique<ControllerProcess>(ControllerOptions{.flags = std::move(flags)});
    auto i = c_->install();
    ASSERT_TRUE(i) << i.error().to_string();
    auto s = c_->start();
    ASSERT_TRUE(s) << s.error().to_string();
    ASSERT_TRUE(c_->apply({service("shop", "web", 80, 8080)}));
    auto w = c_->certify_workload("shop", "web");
    ASSERT_TRUE(w) << w.error().to_string();
    workload_channel_ = c_->channel(ControllerProcess::credentials_of(*w, c_->anchor_pem()));
    admin_channel_ = c_->channel(c_->admin_credentials());
  }

  std::unique_ptr<ControllerProcess> c_;
  std::shared_ptr<grpc::Channel> workload_channel_;
  std::shared_ptr<grpc::Channel> admin_channel_;
};

TEST_F(RegistrationIntegration, EndpointLivesAsLongAsTheLeaseStream) {
  // A long lease: only the end of the stream can explain a prompt removal.
  start({"--registration.lease=30s"});
  if (HasFatalFailure()) return;
  DestinationWatch w(admin_channel_, "web.shop.svc.cluster.local:80");
  ASSERT_TRUE(w.wait_until([](const DestinationWatch& d) { return d.announced(); }, 10s));

  std::atomic<int> registered{0};
  auto lease = std::make_unique<RegistrationLease>(
      [this](bool) { return workload_channel_; }, workload("web", 8080, "10.1.1.1", "web-0"),
      [&](RegistrationLease::State s, const std::string&) {
        if (s == RegistrationLease::State::kRegistered) ++registered;
      });
  ASSERT_TRUE(w.wait_for_addrs({"10.1.1.1:8080"}, 10s)) << w.history();
  const auto& a = w.addrs().at("10.1.1.1:8080");
  EXPECT_EQ(a.tls_identity(), "spiffe://east.strait/ns/shop/sa/web");
  EXPECT_EQ(a.proxy_port(), 4143u);
  EXPECT_EQ(a.metric_labels().at("app"), "web");
  // The client learns it is registered from the response, which may trail the store's event.
  EXPECT_TRUE(wait_until([&] { return registered.load() == 1; }, 5s)) << registered.load();

  // The endpoint is visible through the admin API too, owned by the lease.
  auto eps = c_->list(discovery::Kind::kEndpoint, "shop");
  ASSERT_TRUE(eps);
  ASSERT_EQ(eps->size(), 1u);
  EXPECT_TRUE(discovery::meta_of(eps->front()).ephemeral());
  auto metrics = c_->get("/metrics");
  EXPECT_EQ(metric_value(metrics.body, "registration_leases"), 1.0) << metrics.body;

  // Destroying the lease cancels its stream: the endpoint goes long before the lease would end.
  auto stopped = Clock::now();
  lease.reset();
  ASSERT_TRUE(w.wait_for_addrs({}, 5s)) << w.history();
  EXPECT_LT(Clock::now() - stopped, 5s);
  ASSERT_TRUE(w.last_no_endpoints().has_value());
  EXPECT_TRUE(w.last_no_endpoints()->exists());
  EXPECT_TRUE(wait_until(
      [&] {
        auto l = c_->list(discovery::Kind::kEndpoint, "shop");
        return l && l->empty();
      },
      5s));
  EXPECT_TRUE(wait_until(
      [&] { return metric_value(c_->get("/metrics").body, "registration_leases") == 0.0; }, 5s));
}

TEST_F(RegistrationIntegration, EndpointGoesWhenHeartbeatsStopButTheStreamStaysOpen) {
  start({"--registration.lease=2s"});
  if (HasFatalFailure()) return;
  DestinationWatch w(admin_channel_, "web.shop.svc.cluster.local:80");
  ASSERT_TRUE(w.wait_until([](const DestinationWatch& d) { return d.announced(); }, 10s));

  // A well-behaved lease, heartbeating, that must outlive the silent one.
  RegistrationLease good([this](bool) { return workload_channel_; },
                         workload("web", 8080, "10.1.1.2", "web-good"));

  // A raw stream that registers and then never sends a heartbeat, without closing.
  auto stub = rv::Registration::NewStub(workload_channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 30s);
  auto stream = stub->Register(&ctx);
  rv::RegisterRequest first;
  *first.mutable_workload() = workload("web", 8080, "10.1.1.1", "web-silent");
  ASSERT_TRUE(stream->Write(first));
  rv::RegisterResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  auto registered_at = Clock::now();
  EXPECT_EQ(resp.lease_seconds(), 2u);
  EXPECT_FALSE(resp.endpoint_name().empty());

  ASSERT_TRUE(w.wait_for_addrs({"10.1.1.1:8080", "10.1.1.2:8080"}, 10s)) << w.history();
  // Expired after the lease time (2 s, reaped every 0.5 s), not before.
  ASSERT_TRUE(w.wait_for_addrs({"10.1.1.2:8080"}, 8s)) << w.history();
  auto after = Clock::now() - registered_at;
  EXPECT_GE(after, 1500ms);
  EXPECT_LE(after, 6s);

  // The controller ends the silent stream with the reason.
  rv::RegisterResponse none;
  EXPECT_FALSE(stream->Read(&none));
  auto status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_NE(status.error_message().find("lease expired"), std::string::npos)
      << status.error_message();

  // The heartbeating lease is still there well past its own lease time.
  auto check_until = Clock::now() + 2500ms;
  while (Clock::now() < check_until) {
    if (auto u = w.reader().next(100ms)) {
      w.take(*u);
      ADD_FAILURE() << "unexpected update: " << describe(*u);
    }
  }
  EXPECT_EQ(w.addrs_set(), std::set<std::string>{"10.1.1.2:8080"});
}

TEST_F(RegistrationIntegration, RefusesAStreamThatDoesNotStartWithAWorkload) {
  start({});
  if (HasFatalFailure()) return;
  auto stub = rv::Registration::NewStub(workload_channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  auto stream = stub->Register(&ctx);
  rv::RegisterRequest hb;
  hb.mutable_heartbeat();
  stream->Write(hb);
  stream->WritesDone();
  rv::RegisterResponse resp;
  EXPECT_FALSE(stream->Read(&resp));
  auto status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_NE(status.error_message().find("heartbeat_first"), std::string::npos);
  auto eps = c_->list(discovery::Kind::kEndpoint);
  ASSERT_TRUE(eps);
  EXPECT_TRUE(eps->empty());
}

}  // namespace
}  // namespace strait::controlplane::testing
