// What one peer can do to the controller's listeners with nothing but TCP (docs/security.md):
// 1,000 idle connections from 127.0.0.2 to each port in turn. The admin server's per-source cap
// keeps /ready answering on loopback; the gRPC listeners close connections that never finish a
// TLS handshake (limits.handshakeTimeout) while the proxies' streams go on and new clients are
// served. Also: numbers beyond 64 bits in an Apply, and a Certify whose token is bad.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "controlplane/client/certify.h"
#include "strait/identity.grpc.pb.h"
#include "core/net/address.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/controlplane/integration/destination_watch.h"
#include "tests/controlplane/integration/test_objects.h"

namespace strait::controlplane::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kIdle = 1000;
constexpr const char* kPeer = "127.0.0.2";

// `n` TCP connections from `source` to 127.0.0.1:port that never send a byte; closed on
// destruction.
class IdleConnections {
 public:
  IdleConnections(const char* source, std::uint16_t port, int n) {
    for (int i = 0; i < n; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &local.sin_addr);
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(port);
      ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
      if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
          ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        if (fd >= 0) ::close(fd);
        continue;
      }
      fds_.push_back(fd);
    }
  }
  ~IdleConnections() {
    for (int fd : fds_) ::close(fd);
  }
  IdleConnections(const IdleConnections&) = delete;
  IdleConnections& operator=(const IdleConnections&) = delete;

  std::size_t opened() const { return fds_.size(); }
  // How many the server has closed (EOF or reset) by now.
  std::size_t closed_by_server() const {
    std::size_t n = 0;
    for (int fd : fds_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) == 1) {
        char c;
        if (::recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) <= 0) ++n;
      }
    }
    return n;
  }

 private:
  std::vector<int> fds_;
};

std::uint16_t port_of(const std::string& address) {
  auto hp = net::split_host_port(address);
  return hp ? hp->second : 0;
}

class ControllerExposure : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(c_.install());
    auto s = c_.start();
    ASSERT_TRUE(s) << s.error().to_string();
    ASSERT_TRUE(c_.apply({service("shop", "web", 80, 8080)}));
  }
  double metric(const std::string& sample) { return metric_value(c_.get("/metrics").body, sample); }

  ControllerProcess c_{ControllerOptions{.flags = {"--limits.handshakeTimeout=2s"}}};
};

TEST_F(ControllerExposure, AThousandIdleConnectionsFromOnePeerLockNothingOut) {
  auto admin_channel = c_.channel(c_.admin_credentials());
  DestinationWatch held(admin_channel, "web.shop.svc.cluster.local:80");
  ASSERT_TRUE(held.wait_until([](const DestinationWatch& d) { return d.announced(); }, 10s));
  int next_ip = 1;

  // The admin port: one source gets its share (16), the rest are closed at once, and loopback
  // is answered throughout.
  {
    IdleConnections idle(kPeer, c_.admin_port(), kIdle);
    ASSERT_GE(idle.opened(), static_cast<std::size_t>(kIdle) - 10);
    for (int i = 0; i < 3; ++i) {
      auto ready = c_.get("/ready");
      EXPECT_EQ(ready.status, 200) << ready.body;
    }
    EXPECT_GE(metric(R"(admin_requests_refused_total{reason="too_many_from_source"})"), 900.0);
  }

  struct Listener {
    const char* name;
    std::uint16_t port;
  };
  for (const Listener& l : {Listener{"identity", port_of(c_.identity_address())},
                            Listener{"mesh", port_of(c_.destination_address())},
                            Listener{"export", port_of(c_.export_address())}}) {
    SCOPED_TRACE(l.name);
    ASSERT_NE(l.port, 0);
    IdleConnections idle(kPeer, l.port, kIdle);
    ASSERT_GE(idle.opened(), static_cast<std::size_t>(kIdle) - 10);
    // The listener holds them for now; they are counted.
    const std::string gauge =
        std::string("controller_listener_connections{listener=\"") + l.name + "\"}";
    EXPECT_GE(metric(gauge), kIdle - 10.0);

    // Meanwhile: /ready on loopback, the stream already open, and a new client.
    EXPECT_EQ(c_.get("/ready").status, 200);
    const std::string ip = "10.7.0." + std::to_string(next_ip++);
    ASSERT_TRUE(c_.apply({endpoint("shop", "web-" + std::to_string(next_ip), "web", ip, 8080)}));
    EXPECT_TRUE(held.wait_until(
        [&](const DestinationWatch& d) { return d.addrs().contains(ip + ":8080"); }, 10s))
        << held.history();
    auto w = c_.certify_workload("shop", "web");  // identity and the admin API, freshly dialled
    EXPECT_TRUE(w) << (w ? "" : w.error().to_string());
    if (w) {
      DestinationWatch fresh(c_.channel(ControllerProcess::credentials_of(*w, c_.anchor_pem())),
                             "web.shop.svc.cluster.local:80");
      EXPECT_TRUE(fresh.wait_until([](const DestinationWatch& d) { return d.announced(); }, 10s));
    }

    // None of them finished a TLS handshake: all closed by the server after the 2 s limit.
    EXPECT_TRUE(wait_until([&] { return idle.closed_by_server() == idle.opened(); }, 15s, 200ms))
        << idle.closed_by_server() << " of " << idle.opened() << " closed";
    EXPECT_TRUE(wait_until([&] { return metric(gauge) < 50; }, 5s, 100ms)) << metric(gauge);
  }
}

// Finding 7: a number beyond 64 bits became the double 2^64 and was cast (undefined behaviour).
// Through the admin API it is a clear InvalidArgument, and nothing is stored.
TEST_F(ControllerExposure, ApplyRefusesNumbersBeyondSixtyFourBits) {
  admin::v1::ApplyRequest req;
  req.add_objects_json(
      R"({"apiVersion":"strait.dev/v1alpha1","kind":"Service","metadata":{"name":"big",)"
      R"("namespace":"shop","version":18446744073709551616},"spec":{"ports":[{"port":80}]}})");
  req.add_objects_json(
      R"({"apiVersion":"strait.dev/v1alpha1","kind":"Service","metadata":{"name":"big",)"
      R"("namespace":"shop"},"spec":{"ports":[{"port":1e300}]}})");
  for (int i = 0; i < req.objects_json_size(); ++i) {
    admin::v1::ApplyRequest one;
    one.add_objects_json(req.objects_json(i));
    admin::v1::ApplyResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    auto status = c_.admin()->Apply(&ctx, one, &resp);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_NE(status.error_message().find("must be an integer"), std::string::npos)
        << status.error_message();
  }
  auto services = c_.list(discovery::Kind::kService, "shop");
  ASSERT_TRUE(services);
  EXPECT_EQ(services->size(), 1u);  // web only
  EXPECT_EQ(c_.get("/live").status, 200);
}

// Finding 6: Certify parsed the CSR before looking at the token. A bad token is refused as such,
// before the CSR's bytes are read.
TEST_F(ControllerExposure, CertifyChecksTheTokenFirst) {
  auto stub = identity::v1::Identity::NewStub(
      make_channel(c_.identity_address(), ClientCredentials{c_.anchor_pem(), "", ""}));
  identity::v1::CertifyRequest req;
  req.set_identity("spiffe://east.strait/ns/shop/sa/web");
  req.set_token("not.a.token");
  req.set_certificate_signing_request("-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n");
  identity::v1::CertifyResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  auto status = stub->Certify(&ctx, req, &resp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_NE(status.error_message().find("malformed_token"), std::string::npos)
      << status.error_message();
  EXPECT_GE(metric(R"(identity_certificates_refused_total{reason="malformed_token"})"), 1.0);
  EXPECT_LT(metric(R"(identity_certificates_refused_total{reason="malformed_csr"})"), 1.0);
}

}  // namespace
}  // namespace strait::controlplane::testing
