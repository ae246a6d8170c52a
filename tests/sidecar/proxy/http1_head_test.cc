// HTTP/1 heads as the proxy reads them: framing, keep-alive, hop-by-hop fields, upgrades and
// 100-continue, and every request-smuggling shape refused.
#include "sidecar/proxy/http/http1_head.h"

#include <gtest/gtest.h>

namespace strait::proxy::http {
namespace {

constexpr std::size_t kLimit = 8192;

Http1Head request(std::string_view bytes) {
  auto r = parse_request_head(bytes, kLimit);
  if (auto* no = std::get_if<HeadRefusal>(&r)) ADD_FAILURE() << no->reason << ": " << no->detail;
  if (std::holds_alternative<std::monostate>(r)) ADD_FAILURE() << "incomplete";
  return std::holds_alternative<Http1Head>(r) ? std::get<Http1Head>(r) : Http1Head{};
}
HeadRefusal refused(std::string_view bytes) {
  auto r = parse_request_head(bytes, kLimit);
  if (!std::holds_alternative<HeadRefusal>(r)) ADD_FAILURE() << "not refused: " << bytes;
  return std::holds_alternative<HeadRefusal>(r) ? std::get<HeadRefusal>(r) : HeadRefusal{};
}
Http1Head response(std::string_view bytes, std::string_view method = "GET") {
  auto r = parse_response_head(bytes, kLimit, method);
  if (auto* no = std::get_if<HeadRefusal>(&r)) ADD_FAILURE() << no->reason << ": " << no->detail;
  return std::holds_alternative<Http1Head>(r) ? std::get<Http1Head>(r) : Http1Head{};
}

TEST(Http1Head, SimpleGetKeepsAliveIn11AndNotIn10) {
  const std::string bytes = "GET /a?b=1 HTTP/1.1\r\nHost: web\r\nAccept: */*\r\n\r\nNEXT";
  auto h = request(bytes);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a?b=1");
  EXPECT_EQ(h.version, 11u);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(h.framing, BodyFraming::kNone);
  EXPECT_EQ(h.head_size, bytes.size() - 4);
  EXPECT_EQ(h.field("host"), "web");
  EXPECT_EQ(h.field("ACCEPT"), "*/*");
  EXPECT_FALSE(request("GET / HTTP/1.0\r\n\r\n").keep_alive);
  EXPECT_TRUE(request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
  EXPECT_FALSE(request("GET / HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n").keep_alive);
}

TEST(Http1Head, AbsoluteFormAndBodies) {
  auto h =
      request("POST http://web.shop:80/x HTTP/1.1\r\nHost: web.shop\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(h.target, "http://web.shop:80/x");
  EXPECT_EQ(h.framing, BodyFraming::kLength);
  EXPECT_EQ(h.content_length, 5u);
  EXPECT_TRUE(h.field("content-length").empty());  // carried by framing, not as a field
  auto c = request("POST / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(c.framing, BodyFraming::kChunked);
  EXPECT_EQ(request("POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 0\r\n\r\n").framing,
            BodyFraming::kNone);
}

TEST(Http1Head, HopByHopFieldsAndWhatConnectionNamesAreRemoved) {
  auto h = request(
      "GET / HTTP/1.1\r\nHost: w\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\n"
      "X-Secret: s\r\nProxy-Connection: x\r\nTE: trailers\r\nTrailer: X-T\r\nX-Kept: k\r\n\r\n");
  for (const auto& [n, v] : h.fields) {
    EXPECT_FALSE(is_hop_by_hop(n)) << n;
    EXPECT_NE(n, "X-Secret");
  }
  EXPECT_EQ(h.field("x-kept"), "k");
  EXPECT_TRUE(h.te_trailers);
  EXPECT_EQ(h.fields.size(), 2u);  // Host, X-Kept
  // Found by fuzz_http1_head: Connection may not take away Host.
  EXPECT_EQ(request("GET / HTTP/1.1\r\nHost: w\r\nConnection: host\r\n\r\n").field("host"), "w");
}

TEST(Http1Head, UpgradeAndExpectContinue) {
  auto u = request(
      "GET /ws HTTP/1.1\r\nHost: w\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: k\r\n\r\n");
  EXPECT_TRUE(u.upgrade);
  EXPECT_EQ(u.upgrade_protocol, "websocket");
  EXPECT_EQ(u.field("sec-websocket-key"), "k");
  EXPECT_FALSE(request("GET / HTTP/1.1\r\nHost: w\r\nUpgrade: websocket\r\n\r\n").upgrade);
  auto e =
      request("PUT / HTTP/1.1\r\nHost: w\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_TRUE(e.expect_continue);
  EXPECT_TRUE(e.field("expect").empty());
  EXPECT_EQ(refused("PUT / HTTP/1.1\r\nHost: w\r\nExpect: magic\r\n\r\n").status, 417);
}

TEST(Http1Head, SmugglingShapesAreRefused) {
  for (const char* bad : {
           "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: gzip\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
           "chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 5, 6\r\n\r\n",
           "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
       }) {
    auto no = refused(bad);
    EXPECT_EQ(no.status, 400) << bad;
    EXPECT_EQ(no.reason, "request_smuggling") << bad << ": " << no.detail;
  }
  // The same length twice is one length.
  EXPECT_EQ(request("POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")
                .content_length,
            5u);
}

TEST(Http1Head, MalformedOversizedAndIncomplete) {
  for (const char* bad :
       {"GET / HTTP/1.1\r\n\r\n",  // no Host
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GARBAGE\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: w\r\n\r\n", "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: w\r\nX: a\x01b\r\n\r\n"}) {
    EXPECT_EQ(refused(bad).status, 400) << bad;
  }
  auto big = parse_request_head(
      "GET / HTTP/1.1\r\nHost: w\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", kLimit);
  ASSERT_TRUE(std::holds_alternative<HeadRefusal>(big));
  EXPECT_EQ(std::get<HeadRefusal>(big).status, 431);
  EXPECT_EQ(std::get<HeadRefusal>(parse_request_head(std::string(9000, 'G'), kLimit)).status, 431);
  const std::string whole = "GET / HTTP/1.1\r\nHost: w\r\n\r\n";
  for (std::size_t n = 0; n < whole.size(); ++n) {
    EXPECT_TRUE(
        std::holds_alternative<std::monostate>(parse_request_head(whole.substr(0, n), kLimit)))
        << n;
  }
}

TEST(Http1Head, ResponseFraming) {
  EXPECT_EQ(response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n").framing, BodyFraming::kLength);
  EXPECT_EQ(response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").framing,
            BodyFraming::kChunked);
  auto close = response("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(close.framing, BodyFraming::kUntilClose);
  EXPECT_FALSE(close.keep_alive);
  auto head = response("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "HEAD");
  EXPECT_EQ(head.framing, BodyFraming::kNone);
  EXPECT_EQ(head.field("content-length"), "100");  // kept: it describes the GET's body
  // Found by fuzz_http1_head: a response's Content-Length: 0 must survive re-serializing (without
  // it the body would run until the close); "043" is status 43 to Beast, and no status at all.
  auto empty = response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(empty.framing, BodyFraming::kLength);
  EXPECT_EQ(response(serialize(empty)).framing, BodyFraming::kLength);
  EXPECT_TRUE(response(serialize(empty)).keep_alive);
  for (const char* odd : {"HTTP/1.1 043 Odd\r\n\r\n", "HTTP/1.1 600 Odd\r\n\r\n"}) {
    auto r = parse_response_head(odd, kLimit, "GET");
    ASSERT_TRUE(std::holds_alternative<HeadRefusal>(r)) << odd;
    EXPECT_EQ(std::get<HeadRefusal>(r).reason, "bad_response");
  }
  EXPECT_EQ(response("HTTP/1.1 204 No Content\r\n\r\n").framing, BodyFraming::kNone);
  EXPECT_EQ(response("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").framing,
            BodyFraming::kNone);
  EXPECT_EQ(response("HTTP/1.1 100 Continue\r\n\r\n").framing, BodyFraming::kNone);
  auto up = response(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_TRUE(up.upgrade);
  EXPECT_EQ(up.upgrade_protocol, "websocket");
  auto bad = parse_response_head(
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", kLimit, "GET");
  ASSERT_TRUE(std::holds_alternative<HeadRefusal>(bad));
  EXPECT_EQ(std::get<HeadRefusal>(bad).status, 502);
}

TEST(Http1Head, LargeContentLengthIsNoRefusal) {
  // Only the head is parsed: Beast's default body limits (1 MB requests, 8 MB responses) must
  // not turn a large upload or download into a 400 or 502.
  auto q = request("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000000\r\n\r\n");
  EXPECT_EQ(q.framing, BodyFraming::kLength);
  EXPECT_EQ(q.content_length, 10000000000u);
  auto r = response("HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n");
  EXPECT_EQ(r.framing, BodyFraming::kLength);
  EXPECT_EQ(r.content_length, 10000000000u);
}

TEST(Http1Head, SerializedHeadsParseBackTheSame) {
  for (const char* in : {
           "POST /x HTTP/1.1\r\nHost: w\r\nContent-Length: 7\r\nX-A: 1\r\n\r\n",
           "PUT / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
           "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
           "GET /ws HTTP/1.1\r\nHost: w\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
           "PUT / HTTP/1.1\r\nHost: w\r\nExpect: 100-continue\r\nContent-Length: 1\r\nTE: "
           "trailers\r\n\r\n",
       }) {
    auto a = request(in);
    auto b = request(serialize(a));
    EXPECT_EQ(a.method, b.method) << in;
    EXPECT_EQ(a.target, b.target) << in;
    EXPECT_EQ(a.fields, b.fields) << in;
    EXPECT_EQ(a.framing, b.framing) << in;
    EXPECT_EQ(a.content_length, b.content_length) << in;
    EXPECT_EQ(a.keep_alive, b.keep_alive) << in;
    EXPECT_EQ(a.upgrade, b.upgrade) << in;
    EXPECT_EQ(a.expect_continue, b.expect_continue) << in;
    EXPECT_EQ(a.te_trailers, b.te_trailers) << in;
  }
  auto r = response("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nX-B: 2\r\n\r\n");
  auto back = response(serialize(r));
  EXPECT_EQ(back.status, 404u);
  EXPECT_EQ(back.reason, "Not Found");
  EXPECT_EQ(back.fields, r.fields);
  EXPECT_EQ(back.content_length, 2u);
}

}  // namespace
}  // namespace strait::proxy::http
