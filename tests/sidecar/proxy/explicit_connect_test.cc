// Unit tests of explicit mode's CONNECT parsing (parse_connect) and its answers
// (connect_response): what is accepted, each refusal's status and reason, incomplete input.
#include <gtest/gtest.h>

#include <string>

#include "sidecar/proxy/explicit.h"

namespace strait::proxy {
namespace {

constexpr std::size_t kLimit = 8192;

ConnectRequest accepted(const std::string& bytes) {
  auto r = parse_connect(bytes, kLimit);
  if (auto* no = std::get_if<ConnectRefusal>(&r)) {
    ADD_FAILURE() << "refused " << no->status << " " << no->reason << ": " << no->detail;
  } else if (std::holds_alternative<std::monostate>(r)) {
    ADD_FAILURE() << "incomplete";
  }
  auto* ok = std::get_if<ConnectRequest>(&r);
  return ok ? *ok : ConnectRequest{};
}

ConnectRefusal refused(const std::string& bytes, std::size_t limit = kLimit) {
  auto r = parse_connect(bytes, limit);
  auto* no = std::get_if<ConnectRefusal>(&r);
  if (!no) {
    ADD_FAILURE() << "not refused: " << bytes.substr(0, 80);
    return {};
  }
  return *no;
}

TEST(ExplicitConnect, Ipv4Target) {
  const std::string head = "CONNECT 198.19.0.10:80 HTTP/1.1\r\nHost: 198.19.0.10:80\r\n\r\n";
  auto r = accepted(head);
  EXPECT_EQ(r.target.address().to_string(), "198.19.0.10");
  EXPECT_EQ(r.target.port(), 80);
  EXPECT_EQ(r.head_size, head.size());
}

TEST(ExplicitConnect, CurlStyleWithHeadersAndHttp10) {
  auto r = accepted(
      "CONNECT 127.0.1.20:8080 HTTP/1.1\r\nHost: 127.0.1.20:8080\r\nUser-Agent: curl/7.88.1\r\n"
      "Proxy-Connection: Keep-Alive\r\n\r\n");
  EXPECT_EQ(r.target.port(), 8080);
  EXPECT_EQ(accepted("CONNECT 10.0.0.1:443 HTTP/1.0\r\n\r\n").target.port(), 443);
}

TEST(ExplicitConnect, Ipv6Target) {
  auto r = accepted("CONNECT [fd00::a]:443 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.target.address().to_string(), "fd00::a");
  EXPECT_EQ(r.target.port(), 443);
}

TEST(ExplicitConnect, BytesAfterTheHeadAreEarlyData) {
  const std::string head = "CONNECT 198.19.0.10:80 HTTP/1.1\r\n\r\n";
  auto r = accepted(head + "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.head_size, head.size());
}

TEST(ExplicitConnect, IncompleteHeadWantsMore) {
  const std::string full = "CONNECT 198.19.0.10:80 HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_TRUE(std::holds_alternative<std::monostate>(parse_connect("", kLimit)));
  for (std::size_t n = 1; n < full.size(); ++n) {
    auto r = parse_connect(full.substr(0, n), kLimit);
    EXPECT_TRUE(std::holds_alternative<std::monostate>(r)) << "prefix of " << n << " bytes";
  }
}

TEST(ExplicitConnect, OtherMethodsAre405) {
  for (const char* m : {"GET", "POST", "PUT", "OPTIONS"}) {
    auto no = refused(std::string(m) + " http://198.19.0.10/ HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(no.status, 405) << m;
    EXPECT_EQ(no.reason, "not_connect");
    EXPECT_NE(no.detail.find(m), std::string::npos) << no.detail;
  }
}

TEST(ExplicitConnect, GarbageIs400) {
  for (std::string bad : {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
                          std::string("hello\r\n\r\n"), std::string("CONNECT\r\n\r\n"),
                          std::string("CONNECT 1.2.3.4:80 SPDY/3\r\n\r\n"),
                          std::string("CONNECT 1.2.3.4:80 HTTP/1.1\r\nno colon here\r\n\r\n")}) {
    auto no = refused(bad);
    EXPECT_EQ(no.status, 400) << bad;
    EXPECT_EQ(no.reason, "bad_connect_request") << bad;
  }
}

TEST(ExplicitConnect, TargetsThatAreNotIpPortAre400) {
  for (const char* t : {"web.shop.svc.cluster.local:80", "198.19.0.10", "198.19.0.10:0",
                        "198.19.0.10:65536", "198.19.0.10:http", "198.19.0.10:80x", "fd00::a:443",
                        "[fd00::a]", "0.0.0.0:80", "224.0.0.1:80", "/", "*", "198.19.0.10:080",
                        "198.19.0.10:000080", "198.19.0.10:+80", "198.19.0.10:4294967376"}) {
    auto no = refused("CONNECT " + std::string(t) + " HTTP/1.1\r\n\r\n");
    EXPECT_EQ(no.status, 400) << t;
    EXPECT_EQ(no.reason, "bad_connect_request") << t;
    EXPECT_EQ(no.detail.find('\n'), std::string::npos);
  }
  auto name = refused("CONNECT web.shop.svc.cluster.local:80 HTTP/1.1\r\n\r\n");
  EXPECT_NE(name.detail.find("not names"), std::string::npos) << name.detail;
}

TEST(ExplicitConnect, HeadersOverTheLimitAre431) {
  std::string big = "CONNECT 198.19.0.10:80 HTTP/1.1\r\nX-Big: " + std::string(9000, 'a');
  // Incomplete but over the limit: refused without waiting for the end.
  auto no = refused(big);
  EXPECT_EQ(no.status, 431);
  EXPECT_EQ(no.reason, "connect_headers_too_large");
  // Complete and over the limit.
  EXPECT_EQ(refused(big + "\r\n\r\n").status, 431);
  // A head of exactly the limit passes; one byte more does not.
  const std::string head = "CONNECT 198.19.0.10:80 HTTP/1.1\r\nX-Pad: ";
  const std::string exact = head + std::string(200 - head.size() - 4, 'b') + "\r\n\r\n";
  ASSERT_EQ(exact.size(), 200u);
  auto r = parse_connect(exact, 200);
  ASSERT_TRUE(std::holds_alternative<ConnectRequest>(r));
  EXPECT_EQ(std::get<ConnectRequest>(r).head_size, 200u);
  const std::string over = head + std::string(201 - head.size() - 4, 'b') + "\r\n\r\n";
  EXPECT_EQ(refused(over, 200).status, 431);
}

TEST(ExplicitConnect, Responses) {
  EXPECT_EQ(connect_response(200), "HTTP/1.1 200 Connection established\r\n\r\n");
  const std::string r503 = connect_response(503, "no_ready_endpoints", "198.19.0.10:80: none");
  EXPECT_EQ(r503.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << r503;
  EXPECT_NE(r503.find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(r503.find("Strait-Refused: no_ready_endpoints\r\n"), std::string::npos);
  const std::string body = "no_ready_endpoints: 198.19.0.10:80: none\n";
  EXPECT_NE(r503.find("Content-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos);
  EXPECT_EQ(r503.substr(r503.size() - body.size()), body);
  EXPECT_EQ(connect_response(405, "not_connect", "x").rfind("HTTP/1.1 405 Method Not Allowed", 0),
            0u);
  EXPECT_NE(connect_response(405, "not_connect", "x").find("Allow: CONNECT\r\n"),
            std::string::npos);
  EXPECT_EQ(connect_response(431, "a", "b").rfind("HTTP/1.1 431 ", 0), 0u);
  EXPECT_EQ(connect_response(408, "a", "b").rfind("HTTP/1.1 408 Request Timeout", 0), 0u);
  // A detail with line breaks stays one line.
  auto multi = connect_response(502, "connect_refused", "a\r\nb");
  EXPECT_NE(multi.find("connect_refused: a  b\n"), std::string::npos) << multi;
}

}  // namespace
}  // namespace strait::proxy
