// The gateway's dial (dial.h) while the destination changes under it: the endpoint a dial uses
// is a copy, so removing it from the service while the dial waits for TCP frees nothing the
// dial reads afterwards (it did: connect_upstream held a reference into the destination cache;
// ASan reported the use after free in the sanitizer build, where this test runs too).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/gateway/gateway_env.h"

namespace strait::gateway_it {
namespace {

// A TCP port whose SYNs go unanswered: a listener with a full accept queue that never accepts,
// so a connect to it waits for the dialer's own timeout.
class BlackHole {
 public:
  BlackHole() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listener_, 0);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    for (int i = 0; i < 2; ++i) {  // backlog 0 holds one; the second waits in SYN_SENT
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers_.push_back(fd);
    }
  }
  ~BlackHole() {
    for (int fd : fillers_) ::close(fd);
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  std::vector<int> fillers_;
  std::uint16_t port_ = 0;
};

TEST(GatewayDial, AnEndpointRemovedDuringItsDialIsNotTouchedAfterwards) {
  GatewayEnv env;
  ASSERT_TRUE(env.up()) << env.logs();
  BlackHole hole;
  ASSERT_TRUE(env.apply(R"(apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: slow, namespace: shop}
spec:
  ports: [{name: tcp, port: 80, targetPort: )" +
                        std::to_string(hole.port()) + R"(}]
---
apiVersion: strait.dev/v1alpha1
kind: Endpoint
metadata: {name: slow-1, namespace: shop}
spec: {service: slow, address: 127.0.0.1, port: )" +
                        std::to_string(hole.port()) + "}\n"));

  // A gateway of its own whose dials wait long enough for the change to land meanwhile.
  auto token = env.write_token("strait-multicluster", "strait-gateway");
  ASSERT_TRUE(token) << token.error().to_string();
  Process gw;
  auto ports = env.start_gateway(gw, "dial-gateway", *token, {"--timeouts.outboundConnect=5s"});
  ASSERT_TRUE(ports) << ports.error().to_string() << "\n" << gw.log();
  ASSERT_TRUE(wait_until([&] { return env.https_get("/ready", 2s, ports->second).first == 200; },
                         30s, 50ms))
      << gw.log();

  proxy::TransportHeader h;
  h.target_port = 80;
  h.target_name = "slow.shop.svc.cluster.local:80";
  auto c = env.open_with_header(ports->first, h);
  ASSERT_TRUE(c) << c.error().to_string();
  auto dialing = [&] {
    return metric_sum(env.https_get("/metrics", 2s, ports->second).second, "tcp_open_connections",
                      {{"direction", "gateway"}, {"dst_service", "slow"}});
  };
  ASSERT_TRUE(wait_until([&] { return dialing() >= 1; }, 10s, 20ms)) << gw.log();

  // While the gateway waits on TCP: the endpoint goes, and the destination stream says so.
  ASSERT_TRUE(env.straitctl({"delete", "endpoint", "slow-1", "-n", "shop"}));
  bool closed = false;
  EXPECT_EQ((*c)->read_to_end(15s, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_TRUE(wait_until(
      [&] {
        return metric_sum(env.https_get("/metrics", 2s, ports->second).second, "tcp_close_total",
                          {{"direction", "gateway"}, {"error", "connect_timeout"}}) >= 1;
      },
      10s))
      << gw.log();
  EXPECT_TRUE(gw.alive()) << gw.log();
  const std::string log = gw.log();
  EXPECT_EQ(log.find("AddressSanitizer"), std::string::npos) << log;
  EXPECT_EQ(log.find("runtime error"), std::string::npos) << log;
  gw.stop();
}

}  // namespace
}  // namespace strait::gateway_it
