// VipAllocator: parsing the service range and lowest-free allocation inside it.
#include <gtest/gtest.h>

#include "controlplane/server/vip_allocator.h"

namespace strait::controlplane {
namespace {

VipAllocator must_parse(std::string_view cidr) {
  auto r = VipAllocator::parse(cidr);
  if (!r.ok()) throw std::runtime_error(r.error().to_string());
  return *r;
}

TEST(VipAllocatorTest, ParsesValidRanges) {
  for (std::string_view cidr :
       {"198.19.0.0/20", "10.0.0.0/8", "192.168.1.0/24", "10.0.0.0/30", "172.16.0.0/12"}) {
    EXPECT_TRUE(VipAllocator::parse(cidr).ok()) << cidr;
  }
}

TEST(VipAllocatorTest, RefusesInvalidRanges) {
  for (std::string_view cidr :
       {"", "198.19.0.0", "198.19.0.0/", "198.19.0.0/abc", "198.19.0.0/20x", "198.19.0.0/-1",
        "198.19.0.0/7", "198.19.0.0/0", "198.19.0.0/31", "198.19.0.0/32", "198.19.0.0/33",
        "256.0.0.0/8", "198.19.0/20", "fd00::/64", "/20", "example.com/20", "198.19.0.0/ 20"}) {
    auto r = VipAllocator::parse(cidr);
    ASSERT_FALSE(r.ok()) << "accepted \"" << cidr << "\"";
    EXPECT_EQ(r.error().code, "invalid_field") << cidr;
    EXPECT_NE(r.error().message.find("cluster.serviceCIDR"), std::string::npos)
        << r.error().message;
  }
}

TEST(VipAllocatorTest, AllocatesTheLowestFreeAddress) {
  auto vips = must_parse("198.19.0.0/20");
  EXPECT_EQ(*vips.allocate({}), "198.19.0.1");
  EXPECT_EQ(*vips.allocate({"198.19.0.1"}), "198.19.0.2");
  EXPECT_EQ(*vips.allocate({"198.19.0.1", "198.19.0.2", "198.19.0.4"}), "198.19.0.3");
  // Addresses in use outside the range do not matter.
  EXPECT_EQ(*vips.allocate({"10.0.0.1", "198.19.16.1"}), "198.19.0.1");
}

TEST(VipAllocatorTest, HostBitsOfTheRangeAreIgnored) {
  auto vips = must_parse("10.0.0.77/24");
  EXPECT_EQ(*vips.allocate({}), "10.0.0.1");
  EXPECT_TRUE(vips.contains("10.0.0.0"));
  EXPECT_TRUE(vips.contains("10.0.0.255"));
  EXPECT_FALSE(vips.contains("10.0.1.0"));
}

TEST(VipAllocatorTest, NeverHandsOutNetworkOrBroadcast) {
  auto vips = must_parse("192.168.7.0/24");
  std::set<std::string> in_use;
  for (int i = 0; i < 254; ++i) {
    auto ip = vips.allocate(in_use);
    ASSERT_TRUE(ip.ok()) << "after " << i;
    EXPECT_NE(*ip, "192.168.7.0");
    EXPECT_NE(*ip, "192.168.7.255");
    EXPECT_TRUE(vips.contains(*ip));
    EXPECT_TRUE(in_use.insert(*ip).second) << *ip << " handed out twice";
  }
  auto none = vips.allocate(in_use);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, "range_exhausted");
}

TEST(VipAllocatorTest, SlashThirtyHasTwoAddresses) {
  auto vips = must_parse("10.9.8.4/30");
  std::set<std::string> in_use;
  auto a = vips.allocate(in_use);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "10.9.8.5");
  in_use.insert(*a);
  auto b = vips.allocate(in_use);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, "10.9.8.6");
  in_use.insert(*b);
  auto c = vips.allocate(in_use);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "range_exhausted");
  // Freeing one makes it available again.
  in_use.erase("10.9.8.5");
  EXPECT_EQ(*vips.allocate(in_use), "10.9.8.5");
}

TEST(VipAllocatorTest, Contains) {
  auto vips = must_parse("198.19.0.0/20");
  EXPECT_TRUE(vips.contains("198.19.0.0"));
  EXPECT_TRUE(vips.contains("198.19.0.1"));
  EXPECT_TRUE(vips.contains("198.19.15.255"));
  EXPECT_FALSE(vips.contains("198.19.16.0"));
  EXPECT_FALSE(vips.contains("198.18.255.255"));
  EXPECT_FALSE(vips.contains("10.0.0.1"));
  EXPECT_FALSE(vips.contains(""));
  EXPECT_FALSE(vips.contains("not-an-ip"));
  EXPECT_FALSE(vips.contains("::ffff:198.19.0.1"));

  auto wide = must_parse("10.0.0.0/8");
  EXPECT_TRUE(wide.contains("10.255.255.254"));
  EXPECT_FALSE(wide.contains("11.0.0.1"));
}

}  // namespace
}  // namespace strait::controlplane
