// The original-protocol marker: round trip, strict parsing, marking and taking it off a head.
#include <gtest/gtest.h>

#include "sidecar/proxy/http/orig_proto.h"

namespace strait::proxy::http {
namespace {

TEST(OrigProto, RoundTrip) {
  for (auto v : {HttpVersion::kHttp10, HttpVersion::kHttp11}) {
    for (bool abs : {false, true}) {
      auto p = parse_orig_proto(encode_orig_proto({v, abs}));
      ASSERT_TRUE(p.ok());
      EXPECT_EQ(p->version, v);
      EXPECT_EQ(p->absolute_form, abs);
    }
  }
  EXPECT_EQ(encode_orig_proto({HttpVersion::kHttp11, true}), "HTTP/1.1; absolute-form");
  EXPECT_TRUE(parse_orig_proto(" HTTP/1.0 ;Absolute-Form ").ok());
}

TEST(OrigProto, StrictParsing) {
  for (const char* bad : {"", "HTTP/2", "http/1.1", "HTTP/1.1;", "HTTP/1.1; other", "HTTP/1.1x",
                          "HTTP/1.1; absolute-form; absolute-form", "HTTP/1.1\r\n"}) {
    auto p = parse_orig_proto(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.error().code, "bad_orig_proto");
  }
}

TEST(OrigProto, MarkAndTake) {
  RequestHead h;
  h.version = HttpVersion::kHttp10;
  h.fields = {{"strait-orig-proto", "HTTP/1.1"}, {"x", "1"}};  // forged by the application
  mark_orig_proto(h, false);
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_EQ(find_field(h.fields, kOrigProtoField), "HTTP/1.0");
  auto taken = take_orig_proto(h);
  ASSERT_TRUE(taken.ok());
  ASSERT_TRUE(taken->has_value());
  EXPECT_EQ((*taken)->version, HttpVersion::kHttp10);
  EXPECT_FALSE(find_field(h.fields, kOrigProtoField));

  RequestHead h2;  // an HTTP/2 client's request carries no marker, even a forged one
  h2.fields = {{"strait-orig-proto", "HTTP/1.1"}};
  mark_orig_proto(h2, false);
  EXPECT_TRUE(h2.fields.empty());
  auto none = take_orig_proto(h2);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  RequestHead twice;
  twice.fields = {{"strait-orig-proto", "HTTP/1.1"}, {"strait-orig-proto", "HTTP/1.0"}};
  EXPECT_FALSE(take_orig_proto(twice).ok());
}

}  // namespace
}  // namespace strait::proxy::http
