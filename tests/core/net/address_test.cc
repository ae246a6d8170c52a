// split_host_port: the host:port forms configuration uses, and what it refuses; parse_wire_port:
// the one spelling of a port accepted from the wire.
#include "core/net/address.h"

#include <gtest/gtest.h>

namespace strait::net {
namespace {

TEST(SplitHostPort, AcceptsNamesIpv4AndBracketedIpv6) {
  auto a = split_host_port("127.0.1.10:8086");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.1.10");
  EXPECT_EQ(a->second, 8086);
  auto b = split_host_port("[::1]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "::1");
  EXPECT_EQ(b->second, 0);
  auto c = split_host_port("strait-controller:65535");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->second, 65535);
}

TEST(SplitHostPort, RefusesMissingJunkAndOutOfRangePorts) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", "h:80x", "h:-1", "h:65536", "h:99999999999"}) {
    auto r = split_host_port(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, "invalid_field") << bad;
    }
  }
}

TEST(ParseWirePort, AcceptsOneSpellingOfEachPort) {
  EXPECT_EQ(parse_wire_port("1"), 1);
  EXPECT_EQ(parse_wire_port("80"), 80);
  EXPECT_EQ(parse_wire_port("65535"), 65535);
}

TEST(ParseWirePort, RefusesZeroLeadingZerosOverflowAndJunk) {
  for (const char* bad : {"", "0", "00", "080", "000080", "65536", "99999", "100000", "4294967376",
                          "+80", "-80", " 80", "80 ", "8a", "0x50", "８0"}) {
    EXPECT_FALSE(parse_wire_port(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace strait::net
