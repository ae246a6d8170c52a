// TrustIndex: own anchors unscoped, each Link's roots scoped to its trust domain, shared anchors
// and duplicates collapsed, bad bundles ignored, and a complete update pushed on every change
// (and only then).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "controlplane/trust/trust_index.h"
#include "core/tls/authority.h"

namespace strait::controlplane {
namespace {

namespace tv = trust::v1;
using discovery::Event;
using discovery::Link;
using Roots = std::vector<std::pair<std::string, std::string>>;  // (trust domain, pem)

std::string root_pem(const std::string& name) {
  auto ca = tls::CertificateAuthority::create_root(name, std::chrono::hours(1));
  EXPECT_TRUE(ca) << ca.error().to_string();
  return ca->cert().to_pem();
}

Link link(const std::string& name, const std::string& trust_domain, const std::string& bundle) {
  Link l;
  l.meta.ns = "strait-multicluster";
  l.meta.name = name;
  l.target_cluster = name;
  l.target_trust_domain = trust_domain;
  l.trust_bundle_pem = bundle;
  return l;
}

Event added(Link l) { return {Event::Type::kAdded, std::move(l)}; }
Event modified(Link l) { return {Event::Type::kModified, std::move(l)}; }
Event deleted(Link l) { return {Event::Type::kDeleted, std::move(l)}; }

Roots roots_of(const tv::TrustBundleUpdate& u) {
  Roots out;
  for (const auto& r : u.roots()) out.emplace_back(r.trust_domain(), r.pem());
  return out;
}

class TrustIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    local_ = root_pem("east root");
    west_ = root_pem("west root");
    north_ = root_pem("north root");
  }
  // Subscribes and records every update.
  std::uint64_t subscribe(TrustIndex& index, std::vector<Roots>& got, bool accept = true) {
    auto id = index.reserve_id();
    index.subscribe(id, [&got, accept](tv::TrustBundleUpdate u) {
      got.push_back(roots_of(u));
      return accept;
    });
    return id;
  }
  std::string local_, west_, north_;
};

TEST_F(TrustIndexTest, OwnAnchorsAreUnscopedAndSentAtOnce) {
  TrustIndex index(local_);
  std::vector<Roots> got;
  subscribe(index, got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], (Roots{{"", local_}}));
}

TEST_F(TrustIndexTest, EveryAnchorOfABundleIsARoot) {
  TrustIndex index(local_ + west_);
  EXPECT_EQ(roots_of(index.current()).size(), 2u);
  for (const auto& [td, pem] : roots_of(index.current())) EXPECT_EQ(td, "");
}

TEST_F(TrustIndexTest, LinkAddsItsRootScopedToItsTrustDomain) {
  TrustIndex index(local_);
  std::vector<Roots> got;
  subscribe(index, got);
  index.apply(added(link("west", "west.strait", west_)));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], (Roots{{"", local_}, {"west.strait", west_}}));
}

TEST_F(TrustIndexTest, DeletingTheLinkRemovesItsRoot) {
  TrustIndex index(local_);
  index.apply(added(link("west", "west.strait", west_)));
  std::vector<Roots> got;
  subscribe(index, got);
  index.apply(deleted(link("west", "west.strait", west_)));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], (Roots{{"", local_}}));
}

TEST_F(TrustIndexTest, ModifiedLinkReplacesItsRoots) {
  TrustIndex index(local_);
  index.apply(added(link("west", "west.strait", west_)));
  index.apply(modified(link("west", "west.strait", north_)));
  EXPECT_EQ(roots_of(index.current()), (Roots{{"", local_}, {"west.strait", north_}}));
  // A new trust domain for the same Link: the old scope goes.
  index.apply(modified(link("west", "west2.strait", north_)));
  EXPECT_EQ(roots_of(index.current()), (Roots{{"", local_}, {"west2.strait", north_}}));
}

TEST_F(TrustIndexTest, SharedAnchorAddsNothing) {
  TrustIndex index(local_);
  std::vector<Roots> got;
  subscribe(index, got);
  // Another cluster under the same anchor (same trust domain or not): already trusted.
  index.apply(added(link("west", "west.strait", local_)));
  index.apply(added(link("south", "east.strait", local_)));
  EXPECT_EQ(got.size(), 1u) << "no change, no update";
  EXPECT_EQ(roots_of(index.current()), (Roots{{"", local_}}));
  EXPECT_TRUE(index.rejected().empty());
}

TEST_F(TrustIndexTest, SharedAnchorInsideALargerBundleIsDropped) {
  TrustIndex index(local_);
  index.apply(added(link("west", "west.strait", local_ + west_)));
  EXPECT_EQ(roots_of(index.current()), (Roots{{"", local_}, {"west.strait", west_}}));
}

TEST_F(TrustIndexTest, DuplicatesCollapse) {
  TrustIndex index(local_);
  std::vector<Roots> got;
  subscribe(index, got);
  index.apply(added(link("west", "west.strait", west_ + west_)));
  // A second Link to the same cluster (another name): the same scoped root once.
  index.apply(added(link("west-b", "west.strait", "# comment\n" + west_)));
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(roots_of(index.current()), (Roots{{"", local_}, {"west.strait", west_}}));
  // The root stays while one Link still carries it.
  index.apply(deleted(link("west", "west.strait", west_)));
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(roots_of(index.current()), (Roots{{"", local_}, {"west.strait", west_}}));
}

TEST_F(TrustIndexTest, OneRootForTwoDomainsIsScopedTwice) {
  TrustIndex index(local_);
  index.apply(added(link("west", "west.strait", west_)));
  index.apply(added(link("north", "north.strait", west_)));
  EXPECT_EQ(roots_of(index.current()),
            (Roots{{"", local_}, {"north.strait", west_}, {"west.strait", west_}}));
}

TEST_F(TrustIndexTest, UnusableBundlesAreIgnoredAndReported) {
  TrustIndex index(local_);
  std::vector<Roots> got;
  subscribe(index, got);
  index.apply(added(link("garbage", "west.strait", "-----BEGIN CERTIFICATE-----\nnope\n")));
  index.apply(added(link("nothing", "west.strait", "no pem here")));
  index.apply(added(link("bad-domain", "West Strait!", west_)));
  index.apply(added(link("no-bundle", "west.strait", "")));
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(roots_of(index.current()), (Roots{{"", local_}}));
  auto rejected = index.rejected();
  EXPECT_EQ(rejected["strait-multicluster/garbage"], "malformed_certificate");
  EXPECT_EQ(rejected["strait-multicluster/nothing"], "empty_bundle");
  EXPECT_EQ(rejected["strait-multicluster/bad-domain"], "invalid_trust_domain");
  EXPECT_EQ(rejected["strait-multicluster/no-bundle"], "no_trust_bundle");
  // Fixed: used, and no longer reported.
  index.apply(modified(link("garbage", "west.strait", west_)));
  EXPECT_EQ(got.size(), 2u);
  EXPECT_FALSE(index.rejected().contains("strait-multicluster/garbage"));
}

TEST_F(TrustIndexTest, LeafCertificatesAreNotRoots) {
  auto ca = tls::CertificateAuthority::create_root("west root", std::chrono::hours(1));
  ASSERT_TRUE(ca);
  auto issuer = ca->create_intermediate("west issuer", std::chrono::hours(1));
  ASSERT_TRUE(issuer);
  auto key = tls::PrivateKey::generate_p256();
  ASSERT_TRUE(key);
  auto id = identity::SpiffeId::workload("west.strait", "shop", "web");
  auto csr_pem = tls::make_csr(*key, id);
  ASSERT_TRUE(csr_pem);
  auto csr = tls::CertificateRequest::from_pem(*csr_pem);
  ASSERT_TRUE(csr);
  auto leaf = issuer->issue_leaf(*csr, id, std::chrono::hours(1));
  ASSERT_TRUE(leaf);
  TrustIndex index(local_);
  index.apply(added(link("west", "west.strait", leaf->to_pem())));
  EXPECT_EQ(index.rejected()["strait-multicluster/west"], "not_a_ca");
  EXPECT_EQ(roots_of(index.current()), (Roots{{"", local_}}));
}

TEST_F(TrustIndexTest, OtherKindsAreIgnored) {
  TrustIndex index(local_);
  std::vector<Roots> got;
  subscribe(index, got);
  discovery::Service s;
  s.meta.ns = "shop";
  s.meta.name = "web";
  index.apply({Event::Type::kAdded, s});
  EXPECT_EQ(got.size(), 1u);
}

TEST_F(TrustIndexTest, EverySubscriberGetsEveryChangeUntilItLeaves) {
  TrustIndex index(local_);
  std::vector<Roots> a, b, refusing;
  subscribe(index, a);
  auto id_b = subscribe(index, b);
  subscribe(index, refusing, /*accept=*/false);  // a stream that was cut off
  EXPECT_EQ(index.subscriptions(), 2u) << "a sink that refuses the first update is not kept";
  index.apply(added(link("west", "west.strait", west_)));
  index.unsubscribe(id_b);
  index.apply(added(link("north", "north.strait", north_)));
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(refusing.size(), 1u);
  EXPECT_EQ(a.back(), (Roots{{"", local_}, {"north.strait", north_}, {"west.strait", west_}}));
  EXPECT_EQ(index.subscriptions(), 1u);
}

}  // namespace
}  // namespace strait::controlplane
