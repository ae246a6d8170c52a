// OpenSSL helpers shared by strait_tls.
#include "core/tls/openssl_util.h"

#include <openssl/err.h>

#include <ctime>

namespace strait::tls {

Error openssl_error(std::string code, std::string_view what) {
  std::string message(what);
  char buf[256];
  while (unsigned long err = ERR_get_error()) {
    ERR_error_string_n(err, buf, sizeof buf);
    message.append(message.empty() ? "" : "; ").append(buf);
  }
  return make_error(std::move(code), std::move(message));
}

BioPtr read_bio(std::string_view data) {
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  assert(bio != nullptr);
  return bio;
}

BioPtr write_bio() {
  BioPtr bio(BIO_new(BIO_s_mem()));
  assert(bio != nullptr);
  return bio;
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

namespace {

void push_name(GENERAL_NAMES* names, int type, std::string_view value) {
  ASN1_IA5STRING* str = ASN1_IA5STRING_new();
  ASN1_STRING_set(str, value.data(), static_cast<int>(value.size()));
  GENERAL_NAME* name = GENERAL_NAME_new();
  GENERAL_NAME_set0_value(name, type, str);
  sk_GENERAL_NAME_push(names, name);
}

}  // namespace

GeneralNamesPtr make_general_names(std::string_view uri, const std::vector<std::string>& dns) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!uri.empty()) push_name(names.get(), GEN_URI, uri);
  for (const std::string& name : dns) push_name(names.get(), GEN_DNS, name);
  return names;
}

std::vector<std::string> names_of_type(const GENERAL_NAMES* names, int type) {
  std::vector<std::string> out;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    int actual = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &actual));
    if (actual != type) continue;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<std::size_t>(ASN1_STRING_length(value)));
  }
  return out;
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* time) {
  // A malformed time (only in a certificate that chain verification would refuse anyway)
  // reads as the epoch: long expired, never "valid for ever".
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace strait::tls
