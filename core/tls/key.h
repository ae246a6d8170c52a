// Workload and CA private keys: ECDSA P-256 only, generated in-process (the key never leaves it).
#pragma once

#include <openssl/evp.h>

#include <string>
#include <string_view>

#include "core/base/result.h"
#include "core/tls/openssl_util.h"

namespace strait::tls {

// Ok when `key` is an EC key on P-256; otherwise wrong_key_type (not EC) or wrong_key_size
// (another curve).
Result<void> check_p256(const EVP_PKEY* key);

// An ECDSA P-256 private key. Copies share the same key (reference counted, immutable).
class PrivateKey {
 public:
  static Result<PrivateKey> generate_p256();
  // PKCS#8 or traditional PEM, unencrypted. Errors: malformed_key, wrong_key_type, wrong_key_size.
  static Result<PrivateKey> from_pem(std::string_view pem);

  std::string to_pem() const;  // unencrypted PKCS#8
  std::string public_key_pem() const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit PrivateKey(EVP_PKEY* adopted) : key_(adopted) {}

  SharedHandle<EVP_PKEY, EVP_PKEY_up_ref, EVP_PKEY_free> key_;
};

}  // namespace strait::tls
