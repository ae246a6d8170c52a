// Keys and CSRs: round trips, and the refusal of keys other than ECDSA P-256.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <gtest/gtest.h>

#include "core/tls/csr.h"
#include "core/tls/key.h"
#include "tests/core/tls/pki_fixture.h"

namespace strait::tls {
namespace {

using testing::must;
using testing::spiffe;

std::string pem_of(EVP_PKEY* key) {
  BioPtr bio = write_bio();
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  return bio_contents(bio.get());
}

TEST(PrivateKeyTest, PemRoundTrip) {
  PrivateKey key = must(PrivateKey::generate_p256());
  const std::string pem = key.to_pem();
  EXPECT_NE(pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  PrivateKey again = must(PrivateKey::from_pem(pem));
  EXPECT_EQ(again.to_pem(), pem);
  EXPECT_EQ(again.public_key_pem(), key.public_key_pem());
  EXPECT_EQ(EVP_PKEY_eq(key.get(), again.get()), 1);
}

TEST(PrivateKeyTest, CopiesShareTheKey) {
  PrivateKey key = must(PrivateKey::generate_p256());
  PrivateKey copy = key;
  EXPECT_EQ(copy.get(), key.get());
}

TEST(PrivateKeyTest, RefusesOtherKeysAndGarbage) {
  PkeyPtr rsa(EVP_RSA_gen(2048));
  PkeyPtr p384(EVP_EC_gen("secp384r1"));
  EXPECT_EQ(PrivateKey::from_pem(pem_of(rsa.get())).error().code, "wrong_key_type");
  EXPECT_EQ(PrivateKey::from_pem(pem_of(p384.get())).error().code, "wrong_key_size");
  EXPECT_EQ(PrivateKey::from_pem("not a key").error().code, "malformed_key");
}

TEST(CsrTest, RoundTripCarriesKeyAndIdentity) {
  PrivateKey key = must(PrivateKey::generate_p256());
  const identity::SpiffeId id = spiffe("spiffe://west.example/ns/shop/sa/web");
  CertificateRequest csr = must(CertificateRequest::from_pem(must(make_csr(key, id))));
  EXPECT_TRUE(csr.verify_signature().ok());
  EXPECT_TRUE(csr.key_check().ok());
  EXPECT_EQ(csr.uri_sans(), std::vector<std::string>{id.to_string()});
  EXPECT_EQ(EVP_PKEY_eq(csr.public_key(), key.get()), 1);
}

TEST(CsrTest, KeyCheckRefusesAnotherCurve) {
  PkeyPtr p384(EVP_EC_gen("secp384r1"));
  CertificateRequest csr = must(
      CertificateRequest::from_pem(must(make_csr_for_key(p384.get(), spiffe("spiffe://td/x")))));
  EXPECT_TRUE(csr.verify_signature().ok());
  EXPECT_EQ(csr.key_check().error().code, "wrong_key_size");
}

TEST(CsrTest, KeyCheckRefusesRsa) {
  PkeyPtr rsa(EVP_RSA_gen(2048));
  CertificateRequest csr = must(
      CertificateRequest::from_pem(must(make_csr_for_key(rsa.get(), spiffe("spiffe://td/x")))));
  EXPECT_EQ(csr.key_check().error().code, "wrong_key_type");
}

TEST(CsrTest, GarbageIsMalformed) {
  for (const char* pem :
       {"", "garbage",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}) {
    Result<CertificateRequest> csr = CertificateRequest::from_pem(pem);
    ASSERT_FALSE(csr.ok()) << pem;
    EXPECT_EQ(csr.error().code, "malformed_csr");
  }
}

TEST(CsrTest, TamperedSignatureIsRefused) {
  PrivateKey key = must(PrivateKey::generate_p256());
  PrivateKey other = must(PrivateKey::generate_p256());
  CertificateRequest csr =
      must(CertificateRequest::from_pem(must(make_csr(key, spiffe("spiffe://td/x")))));
  // Swap in another public key: the signature no longer matches the key the CSR carries.
  ASSERT_EQ(X509_REQ_set_pubkey(csr.get(), other.get()), 1);
  EXPECT_EQ(csr.verify_signature().error().code, "bad_csr_signature");
}

}  // namespace
}  // namespace strait::tls
