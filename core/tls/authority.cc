// Certificate authorities: building and signing X.509 v3 certificates.
#include "core/tls/authority.h"

#include <openssl/bn.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <utility>

namespace strait::tls {
namespace {

using Clock = std::chrono::system_clock;
using Extension = std::pair<int, const char*>;  // NID, OpenSSL config value

// Peers' clocks drift: a certificate valid only from "now" would be refused by a peer a few
// seconds behind.
constexpr std::chrono::seconds kBackdate{60};

const std::vector<Extension> kRootExtensions = {{NID_basic_constraints, "critical,CA:TRUE"},
                                                {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                                {NID_subject_key_identifier, "hash"}};
// pathlen 0: a cluster issuer signs workloads, never further CAs.
const std::vector<Extension> kIntermediateExtensions = {
    {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
    {NID_key_usage, "critical,keyCertSign,cRLSign"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"}};
const std::vector<Extension> kLeafExtensions = {{NID_basic_constraints, "critical,CA:FALSE"},
                                                {NID_key_usage, "critical,digitalSignature"},
                                                {NID_ext_key_usage, "serverAuth,clientAuth"},
                                                {NID_subject_key_identifier, "hash"},
                                                {NID_authority_key_identifier, "keyid:always"}};

struct CertSpec {
  std::string common_name;  // empty for workloads: their identity is the URI SAN alone
  EVP_PKEY* public_key;
  Clock::time_point not_after;
  const std::vector<Extension>& extensions;
  const GENERAL_NAMES* san = nullptr;
};

bool set_random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  OsslPtr<BIGNUM, BN_free> serial(BN_bin2bn(bytes, sizeof bytes, nullptr));
  return serial != nullptr &&
         BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) != nullptr;
}

bool set_names(X509* cert, const std::string& common_name, const Certificate* issuer) {
  X509_NAME* subject = X509_get_subject_name(cert);
  if (!common_name.empty() &&
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1) {
    return false;
  }
  return X509_set_issuer_name(
             cert, issuer != nullptr ? X509_get_subject_name(issuer->get()) : subject) == 1;
}

bool set_validity(X509* cert, Clock::time_point not_after) {
  return ASN1_TIME_set(X509_getm_notBefore(cert), Clock::to_time_t(Clock::now() - kBackdate)) !=
             nullptr &&
         ASN1_TIME_set(X509_getm_notAfter(cert), Clock::to_time_t(not_after)) != nullptr;
}

bool add_extensions(X509* cert, const CertSpec& spec, const Certificate* issuer) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->get() : cert, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : spec.extensions) {
    X509ExtPtr extension(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (extension == nullptr || X509_add_ext(cert, extension.get(), -1) != 1) return false;
  }
  // RFC 5280: with an empty subject the subjectAltName must be critical.
  return spec.san == nullptr ||
         X509_add1_ext_i2d(cert, NID_subject_alt_name, const_cast<GENERAL_NAMES*>(spec.san),
                           spec.common_name.empty() ? 1 : 0, X509V3_ADD_DEFAULT) == 1;
}

// Signs `spec` with `signer`; `issuer` null means self-signed.
Result<Certificate> sign(const CertSpec& spec, const Certificate* issuer,
                         const PrivateKey& signer) {
  X509Ptr cert(X509_new());
  const bool ok =
      X509_set_version(cert.get(), X509_VERSION_3) == 1 && set_random_serial(cert.get()) &&
      set_names(cert.get(), spec.common_name, issuer) && set_validity(cert.get(), spec.not_after) &&
      X509_set_pubkey(cert.get(), spec.public_key) == 1 &&
      add_extensions(cert.get(), spec, issuer) &&
      X509_sign(cert.get(), signer.get(), EVP_sha256()) > 0;
  if (!ok) return openssl_error("signing_failed", "building a certificate");
  return Certificate(cert.release());
}

Result<void> check_requested_identity(const CertificateRequest& csr, const identity::SpiffeId& id) {
  const std::vector<std::string> requested = csr.uri_sans();
  if (!requested.empty() && requested != std::vector<std::string>{id.to_string()}) {
    return make_error("csr_identity_mismatch",
                      "the CSR asks for other identities than " + id.to_string());
  }
  return {};
}

bool is_dns_name(std::string_view name) {
  return !name.empty() && name.size() <= 253 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
           c == '*';
  });
}

Result<void> check_dns_names(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (!is_dns_name(name))
      return make_error("invalid_dns_san", "'" + name + "' is not a DNS name");
  }
  return {};
}

Result<void> check_leaf_request(const CertificateRequest& csr, const identity::SpiffeId& id,
                                const std::vector<std::string>& dns_sans) {
  if (Result<void> r = csr.verify_signature(); !r.ok()) return r;
  if (Result<void> r = csr.key_check(); !r.ok()) return r;
  if (Result<void> r = check_requested_identity(csr, id); !r.ok()) return r;
  return check_dns_names(dns_sans);
}

}  // namespace

Result<CertificateAuthority> CertificateAuthority::create_root(std::string common_name,
                                                               std::chrono::seconds lifetime) {
  Result<PrivateKey> key = PrivateKey::generate_p256();
  if (!key.ok()) return key.error();
  const CertSpec spec{std::move(common_name), key->get(), Clock::now() + lifetime, kRootExtensions};
  Result<Certificate> cert = sign(spec, nullptr, *key);
  if (!cert.ok()) return cert.error();
  return CertificateAuthority(std::move(key).value(), std::move(cert).value(), {});
}

Result<CertificateAuthority> CertificateAuthority::create_intermediate(
    std::string common_name, std::chrono::seconds lifetime) const {
  Result<PrivateKey> key = PrivateKey::generate_p256();
  if (!key.ok()) return key.error();
  const CertSpec spec{std::move(common_name), key->get(),
                      std::min(Clock::now() + lifetime, cert_.not_after()),
                      kIntermediateExtensions};
  Result<Certificate> cert = sign(spec, &cert_, key_);
  if (!cert.ok()) return cert.error();
  std::vector<Certificate> chain{*cert};
  chain.insert(chain.end(), chain_.begin(), chain_.end());
  return CertificateAuthority(std::move(key).value(), std::move(cert).value(), std::move(chain));
}

Result<Certificate> CertificateAuthority::issue_leaf(const CertificateRequest& csr,
                                                     const identity::SpiffeId& id,
                                                     std::chrono::seconds lifetime,
                                                     std::vector<std::string> dns_sans) const {
  if (Result<void> checked = check_leaf_request(csr, id, dns_sans); !checked.ok())
    return checked.error();
  const GeneralNamesPtr san = make_general_names(id.to_string(), dns_sans);
  const CertSpec spec{"", csr.public_key(), std::min(Clock::now() + lifetime, cert_.not_after()),
                      kLeafExtensions, san.get()};
  return sign(spec, &cert_, key_);
}

Result<CertificateAuthority> CertificateAuthority::from_pem(std::string_view cert_pem,
                                                            std::string_view key_pem,
                                                            std::string_view chain_pem) {
  Result<Certificate> cert = Certificate::from_pem(cert_pem);
  if (!cert.ok()) return cert.error();
  Result<PrivateKey> key = PrivateKey::from_pem(key_pem);
  if (!key.ok()) return key.error();
  Result<std::vector<Certificate>> above = Certificate::chain_from_pem(chain_pem);
  if (!above.ok()) return above.error();
  if (!cert->is_ca()) return make_error("not_a_ca", cert->subject() + " is not a CA certificate");
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    return openssl_error("key_mismatch", "the private key does not belong to " + cert->subject());
  }
  if (!above->empty() && above->front() == *cert) above->erase(above->begin());
  const bool self_signed = (X509_get_extension_flags(cert->get()) & EXFLAG_SS) != 0;
  std::vector<Certificate> chain =
      self_signed ? std::vector<Certificate>{} : std::vector<Certificate>{*cert};
  chain.insert(chain.end(), above->begin(), above->end());
  return CertificateAuthority(std::move(key).value(), std::move(cert).value(), std::move(chain));
}

}  // namespace strait::tls
