// State files: install_state creates the state directory, load_state reads it back.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "controlplane/server/state_files.h"
#include "core/tls/trust_bundle.h"

namespace strait::controlplane {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

template <typename T>
T must(Result<T> r) {
  if (!r.ok()) throw std::runtime_error(r.error().to_string());
  return std::move(r).value();
}

fs::perms perms_of(const fs::path& p) { return fs::status(p).permissions() & fs::perms::all; }

constexpr auto kSecret = fs::perms::owner_read | fs::perms::owner_write;

class StateFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "strait-state-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  InstallOptions options(fs::path state_dir) const {
    InstallOptions o;
    o.cluster = "west";
    o.trust_domain = "west.example";
    o.state_dir = std::move(state_dir);
    return o;
  }

  ControllerConfig config_of(const fs::path& state_dir) const {
    auto c = must(config::Config::from_file((state_dir / "controller.yaml").string()));
    return must(ControllerConfig::from(c));
  }

  fs::path dir_;
};

TEST_F(StateFilesTest, InstallCreatesTheFilesWithPrivateKeys) {
  fs::path state = dir_ / "state";
  auto r = install_state(options(state));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const char* f : {"controller.yaml", "ca/anchor.crt", "ca/anchor.key", "ca/issuer.crt",
                        "ca/issuer.key", "ca/token-signing.key"}) {
    EXPECT_TRUE(fs::is_regular_file(state / f)) << f;
    EXPECT_FALSE(fs::exists(state / (std::string(f) + ".tmp"))) << f;
  }
  EXPECT_EQ(perms_of(state / "ca/issuer.key"), kSecret);
  EXPECT_EQ(perms_of(state / "ca/token-signing.key"), kSecret);
  EXPECT_EQ(perms_of(state / "ca/anchor.key"), kSecret);
  // Certificates are public.
  EXPECT_NE(perms_of(state / "ca/anchor.crt") & fs::perms::others_read, fs::perms::none);

  ControllerConfig c = config_of(state);
  EXPECT_EQ(c.cluster, "west");
  EXPECT_EQ(c.trust_domain, "west.example");
  EXPECT_EQ(c.domain, "cluster.local");
  EXPECT_EQ(c.service_cidr, "198.19.0.0/20");
  EXPECT_EQ(c.identity_listen, std::vector<std::string>{"127.0.0.1:8080"});
  EXPECT_EQ(fs::canonical(c.state_dir), fs::canonical(state));
}

TEST_F(StateFilesTest, LoadStateReadsAnInstall) {
  fs::path state = dir_ / "state";
  ASSERT_TRUE(install_state(options(state)).ok());
  ControllerConfig c = config_of(state);
  auto s = load_state(c);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_TRUE(s->anchor.is_ca());
  EXPECT_TRUE(s->issuer.cert().is_ca());
  EXPECT_EQ(s->anchor_pem, must(read_file(c.anchor_cert())));
  EXPECT_EQ(s->issuer.cert().to_pem(), must(read_file(c.issuer_cert())));
  // The issuer chains to the anchor: a leaf it issues verifies against the bundle.
  auto bundle = must(tls::TrustBundle::from_pem(s->anchor_pem));
  auto key = must(tls::PrivateKey::generate_p256());
  auto id = identity::SpiffeId::workload("west.example", "shop", "web");
  auto csr = must(tls::CertificateRequest::from_pem(must(tls::make_csr(key, id))));
  auto leaf = must(s->issuer.issue_leaf(csr, id, 1h));
  auto verified = bundle.verify(leaf, s->issuer.chain());
  ASSERT_TRUE(verified.ok()) << verified.error().to_string();
  EXPECT_EQ(*verified, id);
  // The signer and verifier are a pair.
  token::Claims claims;
  claims.issuer = "strait-controller";
  claims.audience = "strait-identity";
  claims.ns = "shop";
  claims.service_account = "web";
  claims.kind = std::string(token::kKindJoin);
  claims.issued_at = std::chrono::system_clock::now();
  claims.expires_at = claims.issued_at + 1h;
  auto tok = must(s->signer.sign(claims));
  EXPECT_TRUE(s->verifier.verify(tok, "strait-identity", token::kKindJoin).ok());
}

TEST_F(StateFilesTest, LoadStateReportsMissingFiles) {
  fs::path state = dir_ / "state";
  ASSERT_TRUE(install_state(options(state)).ok());
  ControllerConfig c = config_of(state);
  fs::remove(c.token_key());
  auto s = load_state(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "io_error");

  ASSERT_TRUE(write_file_atomic(c.token_key(), "not a key").ok());
  s = load_state(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "invalid_state");
}

TEST_F(StateFilesTest, SecondInstallIsRefused) {
  fs::path state = dir_ / "state";
  ASSERT_TRUE(install_state(options(state)).ok());
  std::string anchor = must(read_file(state / "ca/anchor.crt"));
  auto again = install_state(options(state));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "already_installed");
  EXPECT_EQ(must(read_file(state / "ca/anchor.crt")), anchor);  // untouched
}

TEST_F(StateFilesTest, InstallWithGivenPemFilesUsesThem) {
  auto root = must(tls::CertificateAuthority::create_root("given root", 24h * 30));
  auto issuer = must(root.create_intermediate("given issuer", 24h * 10));
  fs::path in = dir_ / "in";
  ASSERT_TRUE(write_file_atomic(in / "anchor.crt", root.cert().to_pem()).ok());
  ASSERT_TRUE(write_file_atomic(in / "issuer.crt", issuer.cert().to_pem()).ok());
  ASSERT_TRUE(write_file_atomic(in / "issuer.key", issuer.key().to_pem(), kSecret).ok());

  fs::path state = dir_ / "state";
  InstallOptions o = options(state);
  o.anchor_cert = in / "anchor.crt";
  o.issuer_cert = in / "issuer.crt";
  o.issuer_key = in / "issuer.key";
  auto r = install_state(o);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(must(read_file(state / "ca/anchor.crt")), root.cert().to_pem());
  EXPECT_EQ(must(read_file(state / "ca/issuer.crt")), issuer.cert().to_pem());
  EXPECT_EQ(perms_of(state / "ca/issuer.key"), kSecret);
  EXPECT_FALSE(fs::exists(state / "ca/anchor.key"));  // the anchor's key was not given

  auto s = load_state(config_of(state));
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->anchor, root.cert());
  EXPECT_EQ(s->issuer.cert(), issuer.cert());
  EXPECT_EQ(s->issuer.key().public_key_pem(), issuer.key().public_key_pem());
}

TEST_F(StateFilesTest, GivingOnlySomePemFilesIsRefused) {
  auto root = must(tls::CertificateAuthority::create_root("given root", 24h * 30));
  auto issuer = must(root.create_intermediate("given issuer", 24h * 10));
  fs::path in = dir_ / "in";
  ASSERT_TRUE(write_file_atomic(in / "anchor.crt", root.cert().to_pem()).ok());
  ASSERT_TRUE(write_file_atomic(in / "issuer.crt", issuer.cert().to_pem()).ok());
  ASSERT_TRUE(write_file_atomic(in / "issuer.key", issuer.key().to_pem(), kSecret).ok());

  for (int mask = 1; mask < 7; ++mask) {  // every non-empty, incomplete subset
    fs::path state = dir_ / ("state" + std::to_string(mask));
    InstallOptions o = options(state);
    if (mask & 1) o.anchor_cert = in / "anchor.crt";
    if (mask & 2) o.issuer_cert = in / "issuer.crt";
    if (mask & 4) o.issuer_key = in / "issuer.key";
    auto r = install_state(o);
    ASSERT_FALSE(r.ok()) << "mask " << mask;
    EXPECT_EQ(r.error().code, "invalid_field") << r.error().to_string();
    EXPECT_FALSE(fs::exists(state / "controller.yaml")) << "mask " << mask;
  }
}

TEST_F(StateFilesTest, GivenIssuerKeyMustMatch) {
  auto root = must(tls::CertificateAuthority::create_root("given root", 24h * 30));
  auto issuer = must(root.create_intermediate("given issuer", 24h * 10));
  auto other = must(root.create_intermediate("other issuer", 24h * 10));
  fs::path in = dir_ / "in";
  ASSERT_TRUE(write_file_atomic(in / "anchor.crt", root.cert().to_pem()).ok());
  ASSERT_TRUE(write_file_atomic(in / "issuer.crt", issuer.cert().to_pem()).ok());
  ASSERT_TRUE(write_file_atomic(in / "issuer.key", other.key().to_pem(), kSecret).ok());
  fs::path state = dir_ / "state";
  InstallOptions o = options(state);
  o.anchor_cert = in / "anchor.crt";
  o.issuer_cert = in / "issuer.crt";
  o.issuer_key = in / "issuer.key";
  auto r = install_state(o);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(fs::exists(state / "controller.yaml"));

  o.issuer_key = in / "missing.key";
  r = install_state(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "io_error");
}

// The given anchor is what every peer trusts: an issuer it does not vouch for would sign
// certificates nobody accepts, and a file that is no certificate only fails at the next start.
TEST_F(StateFilesTest, GivenIssuerMustChainToTheGivenAnchor) {
  auto root = must(tls::CertificateAuthority::create_root("given root", 24h * 30));
  auto stranger = must(tls::CertificateAuthority::create_root("stranger", 24h * 30));
  auto issuer = must(stranger.create_intermediate("stranger issuer", 24h * 10));
  fs::path in = dir_ / "in";
  ASSERT_TRUE(write_file_atomic(in / "anchor.crt", root.cert().to_pem()).ok());
  ASSERT_TRUE(write_file_atomic(in / "garbage.crt", "not a certificate\n").ok());
  ASSERT_TRUE(write_file_atomic(in / "issuer.crt", issuer.cert().to_pem()).ok());
  ASSERT_TRUE(write_file_atomic(in / "issuer.key", issuer.key().to_pem(), kSecret).ok());
  for (const char* anchor_file : {"anchor.crt", "garbage.crt"}) {
    fs::path state = dir_ / (std::string("state-") + anchor_file);
    InstallOptions o = options(state);
    o.anchor_cert = in / anchor_file;
    o.issuer_cert = in / "issuer.crt";
    o.issuer_key = in / "issuer.key";
    EXPECT_FALSE(install_state(o).ok()) << anchor_file;
    EXPECT_FALSE(fs::exists(state / "controller.yaml")) << anchor_file;
  }
}

TEST_F(StateFilesTest, WriteFileAtomicReplacesContent) {
  fs::path f = dir_ / "sub" / "dir" / "file.txt";
  ASSERT_TRUE(write_file_atomic(f, "first version, rather long").ok());
  EXPECT_EQ(must(read_file(f)), "first version, rather long");
  ASSERT_TRUE(write_file_atomic(f, "second").ok());
  EXPECT_EQ(must(read_file(f)), "second");
  EXPECT_FALSE(fs::exists(dir_ / "sub" / "dir" / "file.txt.tmp"));
  EXPECT_EQ(perms_of(f), fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                             fs::perms::others_read);

  ASSERT_TRUE(write_file_atomic(f, "", kSecret).ok());
  EXPECT_EQ(must(read_file(f)), "");
  EXPECT_EQ(perms_of(f), kSecret);
}

TEST_F(StateFilesTest, ReadFileOfAMissingFileIsAnError) {
  auto r = read_file(dir_ / "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "io_error");
}

}  // namespace
}  // namespace strait::controlplane
