// make_trust_set: what a Trust update means to a proxy — the anchors file always, linked roots
// only for their trust domain, unusable roots skipped, equal sets recognised.
#include <gtest/gtest.h>

#include "core/tls/authority.h"
#include "sidecar/proxy/trust_watch.h"

namespace strait::proxy {
namespace {

namespace tv = trust::v1;
using std::chrono::hours;

struct Cluster {
  tls::CertificateAuthority root, issuer;
};

Cluster cluster(const std::string& name) {
  auto root = tls::CertificateAuthority::create_root(name + " root", hours(1));
  EXPECT_TRUE(root);
  auto issuer = root->create_intermediate(name + " issuer", hours(1));
  EXPECT_TRUE(issuer);
  return {*root, *issuer};
}

// A leaf for `id` from `c`'s issuer, and the intermediates it presents.
std::pair<tls::Certificate, std::vector<tls::Certificate>> leaf(const Cluster& c,
                                                                const std::string& id_text) {
  auto key = tls::PrivateKey::generate_p256();
  auto id = identity::SpiffeId::parse(id_text);
  EXPECT_TRUE(key && id);
  auto csr = tls::CertificateRequest::from_pem(*tls::make_csr(*key, *id));
  auto cert = c.issuer.issue_leaf(*csr, *id, hours(1));
  EXPECT_TRUE(cert) << cert.error().to_string();
  return {*cert, c.issuer.chain()};
}

tv::TrustBundleUpdate update(std::vector<std::pair<std::string, std::string>> roots) {
  tv::TrustBundleUpdate u;
  for (auto& [td, pem] : roots) {
    auto* r = u.add_roots();
    r->set_trust_domain(td);
    r->set_pem(pem);
  }
  return u;
}

class TrustSetTest : public ::testing::Test {
 protected:
  Cluster east_ = cluster("east"), west_ = cluster("west");
  std::string east_pem_ = east_.root.cert().to_pem(), west_pem_ = west_.root.cert().to_pem();

  // The verification error code, or "" when accepted.
  std::string verify(const TrustSet& set, const Cluster& from, const std::string& id) {
    auto [cert, chain] = leaf(from, id);
    auto r = set.bundle.verify(cert, chain);
    return r ? "" : r.error().code;
  }
};

TEST_F(TrustSetTest, AnchorsFileAloneTrustsItsClusterForAnything) {
  auto set = make_trust_set(east_pem_, "east.strait", {});
  ASSERT_TRUE(set) << set.error().to_string();
  EXPECT_EQ(set->per_domain, (std::map<std::string, int>{{"east.strait", 1}}));
  EXPECT_EQ(verify(*set, east_, "spiffe://east.strait/ns/shop/sa/web"), "");
  EXPECT_EQ(verify(*set, west_, "spiffe://west.strait/ns/shop/sa/web"), "untrusted_chain");
}

TEST_F(TrustSetTest, LinkedRootVouchesOnlyForItsTrustDomain) {
  auto set = make_trust_set(east_pem_, "east.strait",
                            update({{"", east_pem_}, {"west.strait", west_pem_}}));
  ASSERT_TRUE(set) << set.error().to_string();
  EXPECT_EQ(set->per_domain, (std::map<std::string, int>{{"east.strait", 1}, {"west.strait", 1}}));
  EXPECT_TRUE(set->skipped.empty());
  EXPECT_EQ(verify(*set, west_, "spiffe://west.strait/ns/shop/sa/web"), "");
  EXPECT_EQ(verify(*set, west_, "spiffe://east.strait/ns/shop/sa/web"), "out_of_scope");
  EXPECT_EQ(verify(*set, west_, "spiffe://north.strait/ns/shop/sa/web"), "out_of_scope");
  EXPECT_EQ(verify(*set, east_, "spiffe://west.strait/ns/shop/sa/web"), "")
      << "the own anchors stay unscoped";
}

TEST_F(TrustSetTest, AnchorsFileStaysWhateverTheUpdateSays) {
  // An update without the local anchors (another anchor, e.g. mid-rotation) adds; it never
  // takes the bootstrap trust away.
  auto other = cluster("next");
  auto set = make_trust_set(east_pem_, "east.strait", update({{"", other.root.cert().to_pem()}}));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->per_domain, (std::map<std::string, int>{{"east.strait", 2}}));
  EXPECT_EQ(verify(*set, east_, "spiffe://east.strait/ns/a/sa/b"), "");
  EXPECT_EQ(verify(*set, other, "spiffe://east.strait/ns/a/sa/b"), "");
}

TEST_F(TrustSetTest, UnusableRootsAreSkippedTheRestApplies) {
  auto set = make_trust_set(east_pem_, "east.strait",
                            update({{"west.strait", "garbage"},
                                    {"Bad Domain", west_pem_},
                                    {"north.strait", west_pem_ + east_pem_},
                                    {"west.strait", west_pem_}}));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->skipped.size(), 3u);
  EXPECT_EQ(set->per_domain, (std::map<std::string, int>{{"east.strait", 1}, {"west.strait", 1}}));
}

TEST_F(TrustSetTest, EqualSetsHaveEqualKeys) {
  auto a = make_trust_set(east_pem_, "east.strait", update({{"west.strait", west_pem_}}));
  auto b = make_trust_set(east_pem_, "east.strait",
                          update({{"", east_pem_}, {"west.strait", "\n" + west_pem_}}));
  auto c = make_trust_set(east_pem_, "east.strait", {});
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->key, b->key);
  EXPECT_NE(a->key, c->key);
}

TEST_F(TrustSetTest, UnreadableAnchorsFileIsAnError) {
  EXPECT_FALSE(make_trust_set("not a pem", "east.strait", {}));
}

}  // namespace
}  // namespace strait::proxy
