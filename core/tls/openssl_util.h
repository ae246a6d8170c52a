// Ownership and error plumbing for OpenSSL objects used by strait_tls: unique_ptr deleters,
// ref-counted handles, memory BIOs and turning the OpenSSL error queue into an Error.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/result.h"

namespace strait::tls {

template <auto Free>
struct OsslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
template <typename T, auto Free>
using OsslPtr = std::unique_ptr<T, OsslDeleter<Free>>;

using BioPtr = OsslPtr<BIO, BIO_free_all>;
using PkeyPtr = OsslPtr<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = OsslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using X509Ptr = OsslPtr<X509, X509_free>;
using X509ReqPtr = OsslPtr<X509_REQ, X509_REQ_free>;
using X509StorePtr = OsslPtr<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = OsslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using X509ExtPtr = OsslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using GeneralNamesPtr = OsslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;

inline void free_extension_stack(STACK_OF(X509_EXTENSION) * s) {
  sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
inline void free_x509_stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
using ExtensionStackPtr = OsslPtr<STACK_OF(X509_EXTENSION), free_extension_stack>;
using X509StackPtr = OsslPtr<STACK_OF(X509), free_x509_stack>;

// A copyable owner of a reference-counted OpenSSL object: copies take another reference.
// OpenSSL keys and certificates are safe to share read-only between threads.
template <typename T, int (*UpRef)(T*), void (*Free)(T*)>
class SharedHandle {
 public:
  explicit SharedHandle(T* adopted) : p_(adopted) {}
  SharedHandle(const SharedHandle& other) : p_(other.p_) { UpRef(p_); }
  SharedHandle(SharedHandle&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  SharedHandle& operator=(SharedHandle other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  ~SharedHandle() {
    if (p_ != nullptr) Free(p_);
  }
  T* get() const { return p_; }

 private:
  T* p_;
};

// An Error with `code` whose message is `what` followed by the drained OpenSSL error queue.
Error openssl_error(std::string code, std::string_view what);

// A read-only memory BIO over `data` (which must outlive it).
BioPtr read_bio(std::string_view data);
BioPtr write_bio();
std::string bio_contents(BIO* bio);

// A subjectAltName value holding one URI (if non-empty) and DNS names.
GeneralNamesPtr make_general_names(std::string_view uri, const std::vector<std::string>& dns);
// The names of one type (GEN_URI, GEN_DNS) in a subjectAltName value.
std::vector<std::string> names_of_type(const GENERAL_NAMES* names, int type);

// The epoch when `time` is malformed.
std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* time);

}  // namespace strait::tls
