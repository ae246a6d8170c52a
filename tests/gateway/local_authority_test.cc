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
                          "web.shop.svc.east.local:",    // empty port
                          "web.shop.svc.east.local:8x",  // not a number
                          "web.shop.svc.east.local.evil:80"}) {
    auto r = local_authority(bad, "east.local");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "outside_domain") << bad;
  }
  auto empty = local_authority("", "east.local");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, "no_target_name");
}

}  // namespace
}  // namespace strait::gateway
