// resolve_all: IP literals as they are, names to all their addresses (c-ares, /etc/hosts), and
// failures as errors within the deadline.
#include <gtest/gtest.h>

#include <algorithm>

#include "link/resolver.h"

namespace strait::link {
namespace {
using namespace std::chrono_literals;

TEST(ResolverTest, IpLiteralsPassThrough) {
  auto v4 = resolve_all("198.18.0.10", 1s);
  ASSERT_TRUE(v4);
  EXPECT_EQ(*v4, std::vector<std::string>{"198.18.0.10"});
  auto v6 = resolve_all("fd00::1", 1s);
  ASSERT_TRUE(v6);
  EXPECT_EQ(*v6, std::vector<std::string>{"fd00::1"});
}

TEST(ResolverTest, NamesResolveToTheirAddresses) {
  auto r = resolve_all("localhost", 2s);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(std::find(r->begin(), r->end(), "127.0.0.1") != r->end() ||
              std::find(r->begin(), r->end(), "::1") != r->end());
}

TEST(ResolverTest, UnknownNamesFailWithinTheDeadline) {
  const auto started = std::chrono::steady_clock::now();
  auto r = resolve_all("no-such-gateway.invalid", 1s);
  EXPECT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST(ResolverTest, GatewaysAreMergedWithoutDuplicatesAndFailuresReported) {
  std::vector<Error> errors;
  auto all = resolve_gateways(
      {"198.18.0.10", "198.18.0.10", "198.18.0.11", "no-such-gateway.invalid"}, 1s, &errors);
  EXPECT_EQ(all, (std::vector<std::string>{"198.18.0.10", "198.18.0.11"}));
  EXPECT_EQ(errors.size(), 1u);
}

}  // namespace
}  // namespace strait::link
