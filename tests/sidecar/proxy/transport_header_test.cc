// Unit tests of TransportHeader: round trips, forward compatibility (unknown TLVs) and strict
// rejection of malformed prefixes and bodies, plus a random-input loop that must never crash.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "sidecar/proxy/transport_header.h"

namespace strait::proxy {
namespace {

constexpr std::size_t kMax = TransportHeader::kDefaultMaxSize;

std::string u16(std::size_t v) {
  return {static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}
std::string tlv(std::uint8_t type, const std::string& value) {
  return std::string(1, static_cast<char>(type)) + u16(value.size()) + value;
}
std::string prefix(std::size_t body_len, std::uint8_t version = 1) {
  return std::string("strt") + static_cast<char>(version) + u16(body_len);
}

// Decodes a whole encoded header the way the proxy does: prefix, then body.
Result<TransportHeader> decode(const std::string& wire, std::size_t max = kMax) {
  if (wire.size() < TransportHeader::kPrefixSize) return make_error("short", "short");
  auto len = TransportHeader::body_length(
      std::string_view(wire).substr(0, TransportHeader::kPrefixSize), max);
  if (!len) return len.error();
  if (wire.size() != TransportHeader::kPrefixSize + *len)
    return make_error("length", "length mismatch");
  return TransportHeader::decode_body(std::string_view(wire).substr(TransportHeader::kPrefixSize));
}

TEST(TransportHeader, RoundTripAllFields) {
  TransportHeader h;
  h.target_port = 8080;
  h.target_name = "web.shop.svc.cluster.local:8080";
  h.client_identity = "spiffe://west.example/ns/shop/sa/web";
  std::string wire = h.encode().value();
  EXPECT_EQ(wire.substr(0, 4), "strt");
  EXPECT_EQ(wire[4], 1);
  auto d = decode(wire);
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->target_port, 8080);
  EXPECT_EQ(d->target_name, h.target_name);
  EXPECT_EQ(d->client_identity, h.client_identity);
}

TEST(TransportHeader, RoundTripPortOnlyAndExtremes) {
  for (std::uint16_t port :
       {std::uint16_t{1}, std::uint16_t{255}, std::uint16_t{256}, std::uint16_t{65535}}) {
    TransportHeader h;
    h.target_port = port;
    std::string wire = h.encode().value();
    EXPECT_EQ(wire.size(), TransportHeader::kPrefixSize + 5);  // one TLV: 3 + 2
    auto d = decode(wire);
    ASSERT_TRUE(d.ok()) << d.error().to_string();
    EXPECT_EQ(d->target_port, port);
    EXPECT_TRUE(d->target_name.empty());
    EXPECT_TRUE(d->client_identity.empty());
  }
}

TEST(TransportHeader, SessionProtocol) {
  TransportHeader h;
  h.target_port = 80;
  EXPECT_EQ(decode(h.encode().value()).value().session, SessionProtocol::kOpaque);
  h.session = SessionProtocol::kHttp2;
  std::string wire = h.encode().value();
  EXPECT_EQ(wire.size(), TransportHeader::kPrefixSize + 5 + 4);
  EXPECT_EQ(decode(wire).value().session, SessionProtocol::kHttp2);
  // A session protocol this version does not speak is refused, not treated as opaque.
  for (const std::string& bad : {std::string("\x07", 1), std::string("\x01\x01", 2)}) {
    std::string body = tlv(1, u16(80)) + tlv(4, bad);
    auto d = decode(prefix(body.size()) + body);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, "bad_transport_header");
  }
}

TEST(TransportHeader, UnknownTypesAreSkipped) {
  std::string body = tlv(9, "future stuff") + tlv(1, u16(443)) + tlv(200, "") +
                     tlv(2, "a.b.svc.x:443") + tlv(255, std::string(300, 'z'));
  auto d = decode(prefix(body.size()) + body);
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->target_port, 443);
  EXPECT_EQ(d->target_name, "a.b.svc.x:443");
}

TEST(TransportHeader, WrongMagic) {
  auto r = TransportHeader::body_length(std::string("STRT") + '\x01' + u16(5), kMax);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_transport_header");
  // A plaintext HTTP request arriving on the mTLS port.
  r = TransportHeader::body_length("GET / H", kMax);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_transport_header");
}

TEST(TransportHeader, WrongPrefixSize) {
  auto r = TransportHeader::body_length(prefix(5).substr(0, 6), kMax);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_transport_header");
  r = TransportHeader::body_length(prefix(5) + "x", kMax);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_transport_header");
}

TEST(TransportHeader, UnknownVersion) {
  for (std::uint8_t v : {0, 2, 255}) {
    auto r = TransportHeader::body_length(prefix(5, v), kMax);
    ASSERT_FALSE(r.ok()) << int(v);
    EXPECT_EQ(r.error().code, "bad_transport_header");
    EXPECT_NE(r.error().message.find(std::to_string(v)), std::string::npos) << r.error().message;
  }
}

TEST(TransportHeader, LengthLimit) {
  // Exactly at the limit passes; one byte over fails.
  auto at = TransportHeader::body_length(prefix(kMax - TransportHeader::kPrefixSize), kMax);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, kMax - TransportHeader::kPrefixSize);
  auto over = TransportHeader::body_length(prefix(kMax - TransportHeader::kPrefixSize + 1), kMax);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, "bad_transport_header");
  auto huge = TransportHeader::body_length(prefix(65535), kMax);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code, "bad_transport_header");
  // A small configured limit.
  EXPECT_FALSE(TransportHeader::body_length(prefix(10), 16).ok());
  EXPECT_TRUE(TransportHeader::body_length(prefix(9), 16).ok());
  // A zero-length body passes the prefix check; decode_body then rejects it.
  EXPECT_TRUE(TransportHeader::body_length(prefix(0), kMax).ok());
}

TEST(TransportHeader, EncodedHeaderOverLimitIsRefused) {
  TransportHeader h;
  h.target_port = 80;
  h.target_name = std::string(2000, 'n');
  std::string wire = h.encode().value();
  auto r = TransportHeader::body_length(std::string_view(wire).substr(0, 7), kMax);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_transport_header");
}

TEST(TransportHeader, TruncatedTlv) {
  std::string good = tlv(1, u16(80)) + tlv(2, "name");
  // Cut inside the last TLV's header and inside its value.
  for (std::size_t cut = 1; cut < good.size(); ++cut) {
    if (cut == 5) continue;  // a whole first TLV: valid
    auto r = TransportHeader::decode_body(std::string_view(good).substr(0, cut));
    ASSERT_FALSE(r.ok()) << "cut " << cut;
    EXPECT_EQ(r.error().code, "bad_transport_header");
  }
  EXPECT_TRUE(TransportHeader::decode_body(std::string_view(good).substr(0, 5)).ok());
  // A length that claims more than the body has.
  std::string lying = tlv(1, u16(80)) + std::string("\x02\x00\x10", 3) + "abc";
  auto r = TransportHeader::decode_body(lying);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_transport_header");
}

TEST(TransportHeader, MissingOrZeroOrMalformedPort) {
  auto missing = TransportHeader::decode_body(tlv(2, "web.shop.svc.cluster.local:80"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "bad_transport_header");
  auto empty = TransportHeader::decode_body("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, "bad_transport_header");
  auto zero = TransportHeader::decode_body(tlv(1, u16(0)));
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().code, "bad_transport_header");
  for (const std::string& v :
       {std::string(""), std::string("\x01"), std::string("\x00\x50\x00", 3)}) {
    auto r = TransportHeader::decode_body(tlv(1, v));
    ASSERT_FALSE(r.ok()) << v.size();
    EXPECT_EQ(r.error().code, "bad_transport_header");
  }
  // A later zero port overrides an earlier good one: still refused.
  auto later_zero = TransportHeader::decode_body(tlv(1, u16(80)) + tlv(1, u16(0)));
  EXPECT_FALSE(later_zero.ok());
}

TEST(TransportHeader, RandomBodiesNeverCrash) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> len(0, 64);
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body(static_cast<std::size_t>(len(rng)), '\0');
    for (auto& c : body) c = static_cast<char>(byte(rng));
    // Bias towards structurally plausible inputs: often start with a port TLV.
    if (i % 3 == 0) body = tlv(1, u16(1 + i % 65535)) + body;
    auto r = TransportHeader::decode_body(body);
    if (r.ok()) {
      ++ok;
      EXPECT_NE(r->target_port, 0);
    } else {
      EXPECT_EQ(r.error().code, "bad_transport_header");
    }
    std::string pre = body.substr(0, std::min<std::size_t>(body.size(), 7));
    auto l = TransportHeader::body_length(pre, kMax);
    if (l.ok()) {
      EXPECT_LE(*l + TransportHeader::kPrefixSize, kMax);
    }
  }
  EXPECT_GT(ok, 0);
}

TEST(TransportHeader, EncodeRefusesFieldsBeyondSixteenBitLengths) {
  // A length that does not fit its 16 bits would make the receiver read the rest of the name
  // as stream data.
  TransportHeader h;
  h.target_port = 80;
  h.target_name = std::string(70000, 'n');
  auto wire = h.encode();
  ASSERT_FALSE(wire.ok());
  EXPECT_EQ(wire.error().code, "bad_transport_header");
}

}  // namespace
}  // namespace strait::proxy
