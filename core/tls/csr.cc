// CSR creation and inspection.
#include "core/tls/csr.h"

#include <openssl/pem.h>

namespace strait::tls {

Result<std::string> make_csr(const PrivateKey& key, const identity::SpiffeId& id) {
  return make_csr_for_key(key.get(), id);
}

namespace {

bool add_san_request(X509_REQ* req, const identity::SpiffeId& id) {
  GeneralNamesPtr names = make_general_names(id.to_string(), {});
  ExtensionStackPtr extensions(sk_X509_EXTENSION_new_null());
  STACK_OF(X509_EXTENSION)* raw = extensions.get();
  return X509V3_add1_i2d(&raw, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1 &&
         X509_REQ_add_extensions(req, extensions.get()) == 1;
}

}  // namespace

Result<std::string> make_csr_for_key(EVP_PKEY* key, const identity::SpiffeId& id) {
  X509ReqPtr req(X509_REQ_new());
  // The subject stays empty: the identity is the URI SAN (X509-SVID), nothing else.
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_pubkey(req.get(), key) != 1 || !add_san_request(req.get(), id) ||
      X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) {
    return openssl_error("csr_creation_failed", "building a CSR for " + id.to_string());
  }
  BioPtr bio = write_bio();
  if (PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1)
    return openssl_error("csr_creation_failed", "writing a CSR");
  return bio_contents(bio.get());
}

Result<CertificateRequest> CertificateRequest::from_pem(std::string_view pem) {
  BioPtr bio = read_bio(pem);
  X509ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (req == nullptr || X509_REQ_get0_pubkey(req.get()) == nullptr) {
    return openssl_error("malformed_csr", "reading a PEM certificate signing request");
  }
  return CertificateRequest(std::move(req));
}

Result<void> CertificateRequest::verify_signature() const {
  if (X509_REQ_verify(req_.get(), public_key()) != 1) {
    return openssl_error("bad_csr_signature", "the CSR is not signed by the key it carries");
  }
  return {};
}

Result<void> CertificateRequest::key_check() const { return check_p256(public_key()); }

std::vector<std::string> CertificateRequest::uri_sans() const {
  ExtensionStackPtr extensions(X509_REQ_get_extensions(req_.get()));
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509V3_get_d2i(extensions.get(), NID_subject_alt_name, nullptr, nullptr)));
  return names_of_type(names.get(), GEN_URI);
}

EVP_PKEY* CertificateRequest::public_key() const { return X509_REQ_get0_pubkey(req_.get()); }

}  // namespace strait::tls
