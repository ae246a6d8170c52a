// X.509 certificate parsing and inspection.
#include "core/tls/certificate.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace strait::tls {

Result<Certificate> Certificate::from_pem(std::string_view pem) {
  BioPtr bio = read_bio(pem);
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (cert == nullptr) return openssl_error("malformed_certificate", "reading a PEM certificate");
  return Certificate(cert);
}

Result<std::vector<Certificate>> Certificate::chain_from_pem(std::string_view pem) {
  BioPtr bio = read_bio(pem);
  std::vector<Certificate> chain;
  ERR_clear_error();
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    chain.emplace_back(cert);
  // Reading stops at the end of the data ("no start line"); anything else is a broken block.
  const unsigned long err = ERR_peek_last_error();
  if (err != 0 && ERR_GET_REASON(err) != PEM_R_NO_START_LINE) {
    return openssl_error("malformed_certificate",
                         "reading PEM certificate " + std::to_string(chain.size() + 1));
  }
  ERR_clear_error();
  return chain;
}

bool Certificate::issued_by(const Certificate& ca) const {
  if (X509_check_issued(ca.get(), get()) != X509_V_OK) return false;
  EVP_PKEY* key = X509_get0_pubkey(ca.get());
  const bool ok = key != nullptr && X509_verify(get(), key) == 1;
  ERR_clear_error();
  return ok;
}

std::string Certificate::to_pem() const {
  BioPtr bio = write_bio();
  const int ok = PEM_write_bio_X509(bio.get(), get());
  assert(ok == 1);
  (void)ok;
  return bio_contents(bio.get());
}

namespace {

std::vector<std::string> san_names(X509* cert, int type) {
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  return names_of_type(names.get(), type);
}

}  // namespace

std::vector<std::string> Certificate::uri_sans() const { return san_names(get(), GEN_URI); }
std::vector<std::string> Certificate::dns_sans() const { return san_names(get(), GEN_DNS); }

std::optional<identity::SpiffeId> Certificate::spiffe_id() const {
  const std::vector<std::string> uris = uri_sans();
  if (uris.size() != 1) return std::nullopt;
  Result<identity::SpiffeId> id = identity::SpiffeId::parse(uris.front());
  if (!id.ok()) return std::nullopt;
  return std::move(id).value();
}

std::chrono::system_clock::time_point Certificate::not_before() const {
  return to_time_point(X509_get0_notBefore(get()));
}
std::chrono::system_clock::time_point Certificate::not_after() const {
  return to_time_point(X509_get0_notAfter(get()));
}

std::string Certificate::subject() const {
  BioPtr bio = write_bio();
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(get()), 0, XN_FLAG_RFC2253);
  return bio_contents(bio.get());
}

std::string Certificate::serial_hex() const {
  OsslPtr<BIGNUM, BN_free> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(get()), nullptr));
  OsslPtr<char, [](char* s) { OPENSSL_free(s); }> hex(BN_bn2hex(serial.get()));
  return hex.get();
}

bool Certificate::is_ca() const { return (X509_get_extension_flags(get()) & EXFLAG_CA) != 0; }

std::string to_pem(const std::vector<Certificate>& certs) {
  std::string out;
  for (const Certificate& cert : certs) out += cert.to_pem();
  return out;
}

}  // namespace strait::tls
