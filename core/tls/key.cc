// ECDSA P-256 keys.
#include "core/tls/key.h"

#include <openssl/core_names.h>
#include <openssl/pem.h>

namespace strait::tls {

Result<void> check_p256(const EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
    return make_error("wrong_key_type", std::string("key type is ") +
                                            OBJ_nid2sn(EVP_PKEY_get_base_id(key)) +
                                            ", expected ECDSA P-256");
  }
  char group[64] = {};
  std::size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                     &length) != 1 ||
      std::string_view(group, length) != SN_X9_62_prime256v1) {
    return make_error("wrong_key_size",
                      "EC key on curve '" + std::string(group, length) + "', expected P-256");
  }
  return {};
}

Result<PrivateKey> PrivateKey::generate_p256() {
  EVP_PKEY* key = EVP_EC_gen(SN_X9_62_prime256v1);
  if (key == nullptr) return openssl_error("key_generation_failed", "generating a P-256 key");
  return PrivateKey(key);
}

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
  BioPtr bio = read_bio(pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) return openssl_error("malformed_key", "reading a PEM private key");
  if (Result<void> p256 = check_p256(key.get()); !p256.ok()) return p256.error();
  return PrivateKey(key.release());
}

std::string PrivateKey::to_pem() const {
  BioPtr bio = write_bio();
  const int ok = PEM_write_bio_PrivateKey(bio.get(), get(), nullptr, nullptr, 0, nullptr, nullptr);
  assert(ok == 1);
  (void)ok;
  return bio_contents(bio.get());
}

std::string PrivateKey::public_key_pem() const {
  BioPtr bio = write_bio();
  const int ok = PEM_write_bio_PUBKEY(bio.get(), get());
  assert(ok == 1);
  (void)ok;
  return bio_contents(bio.get());
}

}  // namespace strait::tls
