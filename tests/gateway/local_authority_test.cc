// Unit tests of the gateway's target name check: only <svc>.<ns>.svc.<local domain>:<port>.
#include <gtest/gtest.h>

#include "gateway/gateway.h"

namespace strait::gateway {
namespace {

TEST(LocalAuthority, AcceptsServicesOfThisClusterOnly) {
  EXPECT_TRUE(local_authority("web.shop.svc.east.local:80", "east.local").ok());
  for (const char* bad : {"web.shop.svc.west.local:80",  // another cluster
                          "x.svc.east.local:80",         // no namespace
                          ".shop.svc.east.local:80",     // no service
                          "a.b.shop.svc.east.local:80",  // extra label
                          "web.shop.svc.east.local",     // no port
                          "web.shop.svc.east.local.evil:80"}) {
    auto r = local_authority(bad, "east.local");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "outside_domain") << bad;
  }
  // A port from the wire has one spelling: 1..65535, digits, no leading zeros.
  for (const char* bad : {"web.shop.svc.east.local:", "web.shop.svc.east.local:8x",
                          "web.shop.svc.east.local:0", "web.shop.svc.east.local:65536",
                          "web.shop.svc.east.local:000080", "web.shop.svc.east.local:080",
                          "web.shop.svc.east.local:+80", "web.shop.svc.east.local:4294967376"}) {
    auto r = local_authority(bad, "east.local");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "bad_target_port") << bad;
  }
  EXPECT_TRUE(local_authority("web.shop.svc.east.local:65535", "east.local").ok());
  auto empty = local_authority("", "east.local");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, "no_target_name");
}

}  // namespace
}  // namespace strait::gateway
