// DnsServer on real loopback sockets, asked by dig (the real client) and by raw UDP/TCP sockets
// for what dig will not send: malformed messages, bursts past the rate limit, idle connections.
// The upstream of forwarded queries is a resolver of the test on 127.0.0.1 port 0.
#include "controlplane/dns/dns_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness/process.h"
#include "tests/support/assert_ok.h"
#include "tests/support/metric_text.h"

namespace strait::controlplane::dns {
namespace {

using namespace std::chrono_literals;
using Wire = std::vector<std::uint8_t>;
using testing::metric_sum;

discovery::Service service(const std::string& ns, const std::string& name, const std::string& ip) {
  discovery::Service s;
  s.meta.ns = ns;
  s.meta.name = name;
  s.cluster_ip = ip;
  s.ports = {{"http", 80, 8080}};
  return s;
}

// A query for `name` (type A, class IN, RD set) in wire format, ID 0x1234.
Wire query(const std::string& name, std::uint16_t type = 1, std::uint16_t qclass = 1) {
  Wire w = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    w.push_back(static_cast<std::uint8_t>(dot - start));
    w.insert(w.end(), name.begin() + static_cast<long>(start),
             name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  w.push_back(0);
  for (std::uint16_t v : {type, qclass}) {
    w.push_back(static_cast<std::uint8_t>(v >> 8));
    w.push_back(static_cast<std::uint8_t>(v & 0xff));
  }
  return w;
}

int rcode(const Wire& w) { return w.size() >= 4 ? w[3] & 0xf : -1; }
int answers(const Wire& w) { return w.size() >= 8 ? w[6] << 8 | w[7] : -1; }
bool truncated(const Wire& w) { return w.size() >= 3 && (w[2] & 0x02) != 0; }

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A UDP socket of the test, for sending what dig will not.
class UdpClient {
 public:
  UdpClient() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~UdpClient() { ::close(fd_); }
  void send(std::uint16_t port, const Wire& w) {
    auto to = loopback(port);
    ::sendto(fd_, w.data(), w.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  // The next datagram, or nothing within `wait`.
  std::optional<Wire> receive(std::chrono::milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return std::nullopt;
    Wire buf(65536);
    auto n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }
  std::optional<Wire> exchange(std::uint16_t port, const Wire& w) {
    send(port, w);
    return receive(2s);
  }

 private:
  int fd_;
};

// A connected TCP socket to the server (or -1).
int tcp_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto to = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when the server closes `fd` within `wait` (a read returns end of stream or an error).
bool closed_within(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return false;
  char c;
  return ::recv(fd, &c, 1, 0) <= 0;
}

// A resolver for the names outside: answers every A query with 198.18.99.1 (its question
// echoed, no compression), counting the queries. Its own thread, on 127.0.0.1 port 0.
class Upstream {
 public:
  Upstream() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    auto a = loopback(0);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Upstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int queries() const { return queries_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      Wire buf(4096);
      sockaddr_in from{};
      socklen_t len = sizeof from;
      auto n = ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) continue;
      ++queries_;
      // Header + the question as sent (up to the end of its QTYPE/QCLASS), then one answer
      // pointing at the question's name.
      std::size_t q = 12;
      while (q < static_cast<std::size_t>(n) && buf[q] != 0) q += buf[q] + 1;
      q += 5;
      Wire out(buf.begin(), buf.begin() + static_cast<long>(q));
      out[2] = 0x81;  // QR, RD
      out[3] = 0x80;  // RA, NOERROR
      out[6] = 0;
      out[7] = 1;  // ANCOUNT 1
      out[8] = out[9] = out[10] = out[11] = 0;
      for (std::uint8_t b : {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 99, 1}) {
        out.push_back(b);
      }
      ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }

  int fd_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

class DnsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    zones.apply({discovery::Event::Type::kAdded, service("shop", "web", "198.19.0.10")});
  }

  DnsSettings settings() {
    DnsSettings s;
    s.listen = {"127.0.0.1:0"};
    s.rate_limit = 0;
    return s;
  }
  std::uint16_t start(DnsSettings s) {
    auto server = DnsServer::start(s, zones, registry);
    EXPECT_TRUE(server.ok()) << (server ? "" : server.error().to_string());
    if (!server) return 0;
    server_ = std::move(*server);
    return server_->ports().at(0);
  }
  // dig's output: +short unless other options are given.
  std::string dig(std::uint16_t port, std::vector<std::string> args) {
    std::vector<std::string> argv = {"dig",      "@127.0.0.1", "-p", std::to_string(port),
                                     "+tries=1", "+time=2"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = harness::exec_in("", argv, 10s);
    EXPECT_TRUE(r.ok() && r->success()) << (r ? r->out + r->err : r.error().to_string());
    return r ? r->out : "";
  }
  double metric(const std::string& name, const std::map<std::string, std::string>& labels) {
    return metric_sum(registry.expose(), name, labels);
  }

  ZoneIndex zones{{.domain = "cluster.local", .ttl = 5}};
  metrics::Registry registry;
  std::unique_ptr<DnsServer> server_;
};

TEST_F(DnsServerTest, DigResolvesAServiceOverUdpAndTcp) {
  auto port = start(settings());
  EXPECT_EQ(dig(port, {"+short", "web.shop.svc.cluster.local"}), "198.19.0.10\n");
  EXPECT_EQ(dig(port, {"+short", "+tcp", "web.shop.svc.cluster.local"}), "198.19.0.10\n");
  EXPECT_EQ(dig(port, {"+short", "SRV", "_http._tcp.web.shop.svc.cluster.local"}),
            "0 100 80 web.shop.svc.cluster.local.\n");
  EXPECT_EQ(dig(port, {"+short", "-x", "198.19.0.10"}), "web.shop.svc.cluster.local.\n");
  auto full = dig(port, {"web.shop.svc.cluster.local"});
  EXPECT_NE(full.find("flags: qr aa rd"), std::string::npos) << full;         // authoritative
  EXPECT_NE(full.find(" 5\tIN\tA\t198.19.0.10"), std::string::npos) << full;  // TTL 5
  EXPECT_GE(metric("dns_queries_total", {{"transport", "tcp"}}), 1);
  EXPECT_GE(metric("dns_queries_total", {{"transport", "udp"}}), 4);
}

TEST_F(DnsServerTest, AMissingNameInTheZoneIsNxdomainWithTheSoa) {
  auto port = start(settings());
  auto out = dig(port, {"nope.shop.svc.cluster.local"});
  EXPECT_NE(out.find("status: NXDOMAIN"), std::string::npos) << out;
  EXPECT_NE(out.find("SOA"), std::string::npos) << out;
  // Search-list expansions of a short name that is not ours are NXDOMAIN too, at once.
  out = dig(port, {"example.org.shop.svc.cluster.local"});
  EXPECT_NE(out.find("status: NXDOMAIN"), std::string::npos) << out;
  EXPECT_GE(metric("dns_responses_total", {{"rcode", "NXDOMAIN"}}), 2);
}

TEST_F(DnsServerTest, AnAppliedServiceAnswersAndARemovedOneIsNxdomain) {
  auto port = start(settings());
  zones.apply({discovery::Event::Type::kAdded, service("shop", "cart", "198.19.0.11")});
  EXPECT_EQ(dig(port, {"+short", "cart.shop.svc.cluster.local"}), "198.19.0.11\n");
  zones.apply({discovery::Event::Type::kDeleted, service("shop", "cart", "198.19.0.11")});
  auto out = dig(port, {"cart.shop.svc.cluster.local"});
  EXPECT_NE(out.find("status: NXDOMAIN"), std::string::npos) << out;
}

TEST_F(DnsServerTest, MalformedMessagesGetFormerrOrNothingAndTheServerKeepsAnswering) {
  auto port = start(settings());
  UdpClient c;
  // A question whose name runs past the end of the message.
  Wire cut = {0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 10, 'w', 'e', 'b'};
  auto r = c.exchange(port, cut);
  ASSERT_TRUE(r);
  EXPECT_EQ(rcode(*r), 1);  // FORMERR
  EXPECT_EQ((*r)[0], 0xab);
  // A compression pointer to itself.
  Wire loop = {0x00, 0x01, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
  r = c.exchange(port, loop);
  ASSERT_TRUE(r);
  EXPECT_EQ(rcode(*r), 1);
  // Two questions.
  Wire two = query("web.shop.svc.cluster.local");
  two[5] = 2;
  r = c.exchange(port, two);
  ASSERT_TRUE(r);
  EXPECT_EQ(rcode(*r), 1);
  // An unknown opcode (UPDATE): NOTIMP. A class other than IN: REFUSED.
  Wire update = query("web.shop.svc.cluster.local");
  update[2] = 5 << 3;
  r = c.exchange(port, update);
  ASSERT_TRUE(r);
  EXPECT_EQ(rcode(*r), 4);
  r = c.exchange(port, query("web.shop.svc.cluster.local", 1, 3));  // CHAOS
  ASSERT_TRUE(r);
  EXPECT_EQ(rcode(*r), 5);
  // A zone transfer: refused (never the whole zone). Over UDP it is malformed anyway.
  r = c.exchange(port, query("cluster.local", 252));
  ASSERT_TRUE(r);
  EXPECT_NE(rcode(*r), 0);
  // Too short for a header, and a response instead of a query: no answer at all.
  c.send(port, {1, 2, 3});
  Wire response = query("web.shop.svc.cluster.local");
  response[2] |= 0x80;
  c.send(port, response);
  EXPECT_FALSE(c.receive(200ms));
  // Still answering, and each refusal was counted with its reason.
  r = c.exchange(port, query("web.shop.svc.cluster.local"));
  ASSERT_TRUE(r);
  EXPECT_EQ(rcode(*r), 0);
  EXPECT_EQ(answers(*r), 1);
  EXPECT_EQ(dig(port, {"+short", "web.shop.svc.cluster.local"}), "198.19.0.10\n");
  EXPECT_GE(metric("dns_refused_total", {{"reason", "malformed"}}), 2);
  EXPECT_GE(metric("dns_refused_total", {{"reason", "opcode"}}), 1);
  EXPECT_GE(metric("dns_refused_total", {{"reason", "class"}}), 1);
  EXPECT_GE(metric("dns_responses_total", {{"rcode", "FORMERR"}}), 3);
}

TEST_F(DnsServerTest, OutsideNamesAreForwardedForTheRecursionNetworksOnly) {
  Upstream upstream;
  auto s = settings();
  s.upstreams = {upstream.address()};
  auto port = start(s);
  EXPECT_EQ(dig(port, {"+short", "www.example.org"}), "198.18.99.1\n");
  // The second time from the cache.
  EXPECT_EQ(dig(port, {"+short", "www.example.org"}), "198.18.99.1\n");
  EXPECT_EQ(upstream.queries(), 1);
  EXPECT_GE(metric("dns_forwarded_total", {{"outcome", "answered"}}), 1);
  EXPECT_GE(metric("dns_forwarded_total", {{"outcome", "cached"}}), 1);
  // Without RD: not ours to chase.
  auto out = dig(port, {"+norecurse", "other.example.org"});
  EXPECT_NE(out.find("status: REFUSED"), std::string::npos) << out;

  // A server whose recursion networks do not hold 127.0.0.1 refuses the same question.
  server_.reset();
  s.recursion_networks = {"198.18.0.0/15"};
  port = start(s);
  out = dig(port, {"www.example.org"});
  EXPECT_NE(out.find("status: REFUSED"), std::string::npos) << out;
  EXPECT_EQ(upstream.queries(), 1);
  EXPECT_GE(metric("dns_refused_total", {{"reason", "recursion_denied"}}), 1);
  // Its own zone it still answers, for anyone.
  EXPECT_EQ(dig(port, {"+short", "web.shop.svc.cluster.local"}), "198.19.0.10\n");
}

TEST_F(DnsServerTest, WithoutUpstreamsOutsideNamesAreRefused) {
  auto port = start(settings());
  auto out = dig(port, {"www.example.org"});
  EXPECT_NE(out.find("status: REFUSED"), std::string::npos) << out;
  EXPECT_GE(metric("dns_refused_total", {{"reason", "no_upstream"}}), 1);
}

TEST_F(DnsServerTest, ABurstPastTheRateLimitSlipsOrDropsButTcpStillAnswers) {
  auto s = settings();
  s.rate_limit = 10;
  auto port = start(s);
  UdpClient c;
  const Wire q = query("web.shop.svc.cluster.local");
  constexpr int kBurst = 200;
  for (int i = 0; i < kBurst; ++i) c.send(port, q);
  int full = 0, slipped = 0, total = 0;
  while (auto r = c.receive(500ms)) {
    ++total;
    if (truncated(*r)) {
      ++slipped;
      EXPECT_EQ(r->size(), 12u);  // nothing to amplify with
    } else {
      ++full;
    }
  }
  // A bucket of one second (10) plus what refills while the burst is read.
  EXPECT_GE(full, 1);
  EXPECT_LT(full, 60);
  EXPECT_GE(slipped, 1);
  EXPECT_LT(total, kBurst);  // some dropped
  EXPECT_GE(metric("dns_refused_total", {{"reason", "rate_limited"}}), kBurst - full);
  // TCP is not limited: a client that was told to retry there gets its answer.
  EXPECT_EQ(dig(port, {"+short", "+tcp", "web.shop.svc.cluster.local"}), "198.19.0.10\n");
}

TEST_F(DnsServerTest, TcpConnectionsAreCappedAndIdleOnesClosed) {
  auto s = settings();
  s.max_tcp_connections = 2;
  s.tcp_idle = 300ms;
  auto port = start(s);
  int a = tcp_connect(port), b = tcp_connect(port);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  // Both are counted before the third arrives.
  ASSERT_OK(harness::wait_until([&] { return metric("dns_tcp_connections", {}) == 2; },
                                harness::deadline_in(5s)));
  int third = tcp_connect(port);
  ASSERT_GE(third, 0);  // the kernel accepts it; the server closes it at once
  EXPECT_TRUE(closed_within(third, 5s));
  EXPECT_GE(metric("dns_refused_total", {{"reason", "tcp_connection_cap"}}), 1);
  // Idle ones (no whole query within tcpIdleTimeout) are closed.
  EXPECT_TRUE(closed_within(a, 5s));
  EXPECT_TRUE(closed_within(b, 5s));
  for (int fd : {a, b, third}) ::close(fd);
  ASSERT_OK(harness::wait_until([&] { return metric("dns_tcp_connections", {}) == 0; },
                                harness::deadline_in(5s)));
  EXPECT_EQ(dig(port, {"+short", "+tcp", "web.shop.svc.cluster.local"}), "198.19.0.10\n");
}

TEST_F(DnsServerTest, StopEndsTheServerAndFreesItsPort) {
  auto port = start(settings());
  server_->stop();
  server_->stop();  // idempotent
  UdpClient c;
  EXPECT_FALSE(c.exchange(port, query("web.shop.svc.cluster.local")));
  EXPECT_LT(tcp_connect(port), 0);
}

}  // namespace
}  // namespace strait::controlplane::dns
