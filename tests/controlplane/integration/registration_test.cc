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

// One registration attempt on a raw stream: registered (the stream stays open, holding the
// lease, until the attempt is destroyed) or refused with the controller's status.
struct Attempt {
  std::unique_ptr<grpc::ClientContext> ctx = std::make_unique<grpc::ClientContext>();
  std::unique_ptr<rv::Registration::Stub> stub;
  std::unique_ptr<grpc::ClientReaderWriter<rv::RegisterRequest, rv::RegisterResponse>> stream;
  bool registered = false;
  std::string endpoint;
  grpc::Status status;

  ~Attempt() {
    if (stream && registered) {
      ctx->TryCancel();
      stream->Finish();
    }
  }
};

std::unique_ptr<Attempt> register_once(const std::shared_ptr<grpc::Channel>& channel,
                                       const rv::Workload& w) {
  auto a = std::make_unique<Attempt>();
  a->stub = rv::Registration::NewStub(channel);
  a->ctx->set_deadline(std::chrono::system_clock::now() + 20s);
  a->stream = a->stub->Register(a->ctx.get());
  rv::RegisterRequest req;
  *req.mutable_workload() = w;
  a->stream->Write(req);
  rv::RegisterResponse resp;
  if (a->stream->Read(&resp)) {
    a->registered = true;
    a->endpoint = resp.endpoint_name();
  } else {
    a->status = a->stream->Finish();
  }
  return a;
}

// The refusal's reason as it leads the status message ("reason: detail").
std::string reason_of(const Attempt& a) {
  return a.registered ? "registered"
                      : a.status.error_message().substr(0, a.status.error_message().find(':'));
}

class RegistrationIntegration : public ::testing::Test {
 protected:
  // The tests that register several addresses from one process let the workload name them.
  static constexpr const char* kWebMayNameAddresses =
      "--registration.anyAddress=spiffe://east.strait/ns/shop/sa/web";

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
  start({"--registration.lease=30s", kWebMayNameAddresses});
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
  // The controller names the object from the service and address, not from the request.
  EXPECT_EQ(a.metric_labels().at("endpoint"), "web-10-1-1-1-8080");
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

// A workload serving several ports registers one endpoint that lists them (port 0); the
// service's port reaches it on the listed target port. A port and a list at once is refused.
TEST_F(RegistrationIntegration, OneEndpointListsEveryPortTheWorkloadServes) {
  start({kWebMayNameAddresses});
  if (HasFatalFailure()) return;
  DestinationWatch w(admin_channel_, "web.shop.svc.cluster.local:80");
  auto several = workload("web", 0, "10.1.1.2", "web-1");
  several.add_ports(9090);
  several.add_ports(8080);
  auto a = register_once(workload_channel_, several);
  ASSERT_TRUE(a->registered) << a->status.error_message();
  EXPECT_EQ(a->endpoint, "web-10-1-1-2-9090");
  ASSERT_TRUE(w.wait_for_addrs({"10.1.1.2:8080"}, 10s)) << w.history();
  auto eps = c_->list(discovery::Kind::kEndpoint, "shop");
  ASSERT_TRUE(eps);
  ASSERT_EQ(eps->size(), 1u);
  const auto& e = std::get<discovery::Endpoint>(eps->front());
  EXPECT_EQ(e.port, 0);
  EXPECT_EQ(e.ports, (std::vector<discovery::EndpointPort>{{"", 9090}, {"", 8080}}));

  auto both = workload("web", 8080, "10.1.1.3", "web-2");
  both.add_ports(9090);
  auto refused = register_once(workload_channel_, both);
  EXPECT_EQ(reason_of(*refused), "invalid_workload");
  auto zero = workload("web", 0, "10.1.1.3", "web-2");
  zero.add_ports(0);
  EXPECT_EQ(reason_of(*register_once(workload_channel_, zero)), "invalid_workload");
}

TEST_F(RegistrationIntegration, EndpointGoesWhenHeartbeatsStopButTheStreamStaysOpen) {
  start({"--registration.lease=2s", kWebMayNameAddresses});
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

// What a workload with a valid certificate may not claim: another Service, a Service that does
// not admit its service account, an address that is not its own, an object it does not own.
// Each refusal has its reason, in the status and in registration_refused_total.
TEST_F(RegistrationIntegration, RefusesWhatTheClusterDoesNotGrant) {
  start({});
  if (HasFatalFailure()) return;
  ASSERT_TRUE(c_->apply({service("shop", "api", 9090)}));

  // Another service of the same namespace: api admits only its own service account.
  auto other = register_once(workload_channel_, workload("api", 9090, "", ""));
  EXPECT_EQ(reason_of(*other), "identity_not_admitted") << other->status.error_message();
  EXPECT_EQ(other->status.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // Someone else's address (the stream comes from 127.0.0.1).
  auto elsewhere = register_once(workload_channel_, workload("web", 8080, "10.1.1.1", ""));
  EXPECT_EQ(reason_of(*elsewhere), "address_not_source") << elsewhere->status.error_message();

  // A service that does not exist, and a mirror (written by strait-link, not by workloads).
  auto missing = register_once(workload_channel_, workload("nope", 80, "", ""));
  EXPECT_EQ(reason_of(*missing), "unknown_service") << missing->status.error_message();
  discovery::Service mirror = std::get<discovery::Service>(service("shop", "web-west", 80));
  mirror.meta.owner = "link:west";
  ASSERT_TRUE(c_->apply({mirror}));
  // The admin API may keep owners to itself; whatever it stored decides.
  auto stored = c_->list(discovery::Kind::kService, "shop");
  ASSERT_TRUE(stored);
  for (const auto& o : *stored) {
    if (discovery::meta_of(o).name == "web-west" && !discovery::meta_of(o).owner.empty()) {
      auto into_mirror =
          register_once(c_->channel(ControllerProcess::credentials_of(
                            *c_->certify_workload("shop", "web-west"), c_->anchor_pem())),
                        workload("web-west", 80, "", ""));
      EXPECT_EQ(reason_of(*into_mirror), "not_registrable") << into_mirror->status.error_message();
    }
  }

  // An operator's Endpoint under the name the registration would get: never overwritten.
  ASSERT_TRUE(c_->apply({endpoint("shop", "web-127-0-0-1-8080", "web", "10.0.0.9", 8080)}));
  auto taken = register_once(workload_channel_, workload("web", 8080, "", "web-127-0-0-1-8080"));
  EXPECT_EQ(reason_of(*taken), "name_taken") << taken->status.error_message();
  auto kept = c_->list(discovery::Kind::kEndpoint, "shop");
  ASSERT_TRUE(kept);
  ASSERT_EQ(kept->size(), 1u);
  EXPECT_EQ(std::get<discovery::Endpoint>(kept->front()).address, "10.0.0.9");
  EXPECT_FALSE(discovery::meta_of(kept->front()).ephemeral());
  ASSERT_TRUE(c_->remove(discovery::Kind::kEndpoint, "shop", "web-127-0-0-1-8080"));

  // What the workload is granted: its own service, from its own address, under the name the
  // controller gives (the name it asked for is ignored).
  auto own = register_once(workload_channel_, workload("web", 8080, "", "api-0"));
  ASSERT_TRUE(own->registered) << own->status.error_message();
  EXPECT_EQ(own->endpoint, "web-127-0-0-1-8080");
  auto eps = c_->list(discovery::Kind::kEndpoint, "shop");
  ASSERT_TRUE(eps);
  ASSERT_EQ(eps->size(), 1u);
  const auto& e = std::get<discovery::Endpoint>(eps->front());
  EXPECT_EQ(e.address, "127.0.0.1");
  EXPECT_EQ(e.identity, "spiffe://east.strait/ns/shop/sa/web");

  // A made-up service account: web does not admit it, until web names it.
  auto ghost = c_->certify_workload("shop", "ghost");
  ASSERT_TRUE(ghost) << ghost.error().to_string();
  auto ghost_channel = c_->channel(ControllerProcess::credentials_of(*ghost, c_->anchor_pem()));
  auto ghostly = register_once(ghost_channel, workload("web", 8081, "", ""));
  EXPECT_EQ(reason_of(*ghostly), "identity_not_admitted") << ghostly->status.error_message();
  // Nor may it take over web's own registration, even once admitted.
  discovery::Service web = std::get<discovery::Service>(service("shop", "web", 80, 8080));
  web.service_accounts = {"web", "ghost"};
  ASSERT_TRUE(c_->apply({web}));
  auto takeover = register_once(ghost_channel, workload("web", 8080, "", ""));
  EXPECT_EQ(reason_of(*takeover), "name_taken") << takeover->status.error_message();
  auto admitted = register_once(ghost_channel, workload("web", 8081, "", ""));
  EXPECT_TRUE(admitted->registered) << admitted->status.error_message();

  const auto metrics = c_->get("/metrics").body;
  for (const char* reason :
       {"identity_not_admitted", "address_not_source", "unknown_service", "name_taken"}) {
    EXPECT_GE(
        metric_value(metrics, std::string("registration_refused_total{reason=\"") + reason + "\"}"),
        1.0)
        << reason << "\n"
        << metrics;
  }
}

// A certificate from another issuer under the same trust anchor (another cluster sharing the
// anchor) passes the TLS handshake, and is refused before any service sees the call.
TEST_F(RegistrationIntegration, RefusesACertificateFromAnotherClustersIssuer) {
  start({});
  if (HasFatalFailure()) return;
  auto foreign = c_->channel(c_->sibling_issuer_credentials("shop", "web"));
  auto attempt = register_once(foreign, workload("web", 8080, "", ""));
  EXPECT_FALSE(attempt->registered);
  EXPECT_EQ(attempt->status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << attempt->status.error_message();
  EXPECT_EQ(reason_of(*attempt), "foreign_issuer") << attempt->status.error_message();
  auto eps = c_->list(discovery::Kind::kEndpoint, "shop");
  ASSERT_TRUE(eps);
  EXPECT_TRUE(eps->empty());

  // Not only registration: nothing on the mesh port answers it.
  DestinationWatch watch(foreign, "web.shop.svc.cluster.local:80");
  EXPECT_FALSE(watch.wait_until([](const DestinationWatch& d) { return d.announced(); }, 3s));
  EXPECT_TRUE(wait_until(
      [&] {
        return metric_value(
                   c_->get("/metrics").body,
                   R"(controller_calls_refused_total{listener="mesh",reason="foreign_issuer"})") >=
               2.0;
      },
      5s))
      << c_->get("/metrics").body;
  // This cluster's own workload is served as before.
  auto own = register_once(workload_channel_, workload("web", 8080, "", ""));
  EXPECT_TRUE(own->registered) << own->status.error_message();
}

}  // namespace
}  // namespace strait::controlplane::testing
