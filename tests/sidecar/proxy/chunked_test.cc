// The chunked coding: decoding split anywhere gives the same body and trailers, the encoder's
// output decodes back, and the lenient shapes that let parsers disagree are refused.
#include "sidecar/proxy/http/chunked.h"

#include <gtest/gtest.h>

namespace strait::proxy::http {
namespace {

const std::string kBody =
    "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\ngrpc-status: 0\r\nContent-Length: 99\r\n\r\nNEXT";

TEST(Chunked, DecodesAtOnceAndByteByByteAlike) {
  ChunkedDecoder whole;
  std::string data;
  auto n = whole.feed(kBody, data);
  ASSERT_TRUE(n) << n.error().to_string();
  EXPECT_TRUE(whole.done());
  EXPECT_EQ(*n, kBody.size() - 4);  // stops at the end of the body
  EXPECT_EQ(data, "hello, world");
  ASSERT_EQ(whole.trailers().size(), 1u);  // Content-Length may not be a trailer
  EXPECT_EQ(whole.trailers()[0], (std::pair<std::string, std::string>{"grpc-status", "0"}));

  for (std::size_t split = 1; split < kBody.size() - 4; ++split) {
    ChunkedDecoder d;
    std::string out;
    auto a = d.feed(std::string_view(kBody).substr(0, split), out);
    ASSERT_TRUE(a) << split;
    EXPECT_EQ(*a, split);
    auto b = d.feed(std::string_view(kBody).substr(split), out);
    ASSERT_TRUE(b) << split;
    EXPECT_TRUE(d.done()) << split;
    EXPECT_EQ(out, "hello, world") << split;
    EXPECT_EQ(d.trailers(), whole.trailers()) << split;
  }
}

TEST(Chunked, EncodedBodiesDecodeBack) {
  std::string wire = encode_chunk("abc") + encode_chunk("") + encode_chunk(std::string(300, 'z')) +
                     encode_last_chunk({{"grpc-status", "14"}, {"grpc-message", "down"}});
  ChunkedDecoder d;
  std::string out;
  ASSERT_TRUE(d.feed(wire, out));
  EXPECT_TRUE(d.done());
  EXPECT_EQ(out, "abc" + std::string(300, 'z'));
  EXPECT_EQ(d.trailers(), (Fields{{"grpc-status", "14"}, {"grpc-message", "down"}}));
}

TEST(Chunked, LenientShapesAreRefused) {
  for (const char* bad : {"5\nhello\r\n0\r\n\r\n",     // bare LF
                          "5\r\nhello\n0\r\n\r\n",     // data ended by a bare LF
                          "3\r\nhello\r\n0\r\n\r\n",   // data longer than its size
                          "\r\n",                      // no size
                          " 5\r\nhello\r\n0\r\n\r\n",  // space before the size
                          "5 \r\nhello\r\n0\r\n\r\n",  // space after it
                          "-5\r\nhello\r\n0\r\n\r\n", "0x5\r\nhello\r\n0\r\n\r\n",
                          "10000000000000000\r\n",  // 17 hex digits
                          "0\r\nbad trailer\r\n\r\n", "0\r\n: empty\r\n\r\n",
                          "0\r\nX: a\x01\r\n\r\n", "0\r\nX: a\n\r\n"}) {
    ChunkedDecoder d;
    std::string out;
    auto r = d.feed(bad, out);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, "bad_chunked_body");
    }
  }
  ChunkedDecoder tiny(/*max_trailer_bytes=*/16);
  std::string out;
  EXPECT_FALSE(tiny.feed("0\r\nX-Long: " + std::string(64, 'a') + "\r\n\r\n", out));
  ChunkedDecoder ext(8 * 1024, /*max_line_bytes=*/16);
  EXPECT_FALSE(ext.feed("1;" + std::string(64, 'e') + "\r\na\r\n0\r\n\r\n", out));
}

}  // namespace
}  // namespace strait::proxy::http
