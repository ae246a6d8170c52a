// Signing and verification of join/link tokens. libjwt does the JWS encoding and the ES256
// signature; this file owns key checks, the structural pre-checks that let failures be told apart
// (libjwt answers EINVAL for almost everything), the algorithm pinning, and the claim rules.
#include "core/token/token.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <vector>

namespace strait::token {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;

// libjwt 1.10 returns strings from malloc and has no jwt_free_str.
struct CFree {
  void operator()(char* s) const { std::free(s); }
};
using CStrPtr = std::unique_ptr<char, CFree>;

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// Keys are small; this only keeps the int casts below honest.
constexpr std::size_t kMaxPemBytes = 64 * 1024;

// Claims with a fixed meaning: never taken from, or reported in, Claims::extra.
const std::set<std::string, std::less<>>& reserved_claims() {
  static const std::set<std::string, std::less<>> names = {"iss", "aud",  "exp", "iat", "nbf",
                                                           "jti", "kind", "ns",  "sa",  "sub"};
  return names;
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  std::array<char, 256> buf{};
  ERR_error_string_n(e, buf.data(), buf.size());
  return buf.data();
}

// Never prompt on a terminal for an encrypted key: refuse it instead.
int no_passphrase(char*, int, int, void*) { return -1; }

BioPtr read_bio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

bool is_p256(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC") != 1) return false;
  std::array<char, 80> group{};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group.data(), group.size(), &len) != 1) return false;
  return OBJ_sn2nid(group.data()) == NID_X9_62_prime256v1 ||
         OBJ_txt2nid(group.data()) == NID_X9_62_prime256v1;
}

Result<std::string> write_pem(EVP_PKEY* key, bool private_key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return make_error("internal", "BIO_new: " + openssl_error());
  int ok = private_key
               ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
               : PEM_write_bio_PUBKEY(bio.get(), key);
  if (ok != 1) return make_error("internal", "writing PEM: " + openssl_error());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<std::size_t>(len));
  // Clear the private key from the BIO buffer before it goes back to the allocator.
  if (private_key) OPENSSL_cleanse(data, static_cast<std::size_t>(len));
  return pem;
}

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 0xf]);
  }
  return out;
}

// Strict base64url without padding (RFC 7515 section 2): no stray characters, no impossible
// lengths, unused trailing bits zero. Used only to classify input before libjwt sees it.
std::optional<std::string> base64url_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::optional<boost::json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

Error malformed(std::string why) { return make_error("malformed_token", std::move(why)); }
Error forged(std::string why) { return make_error("forged_token", std::move(why)); }
Error missing(std::string_view claim) {
  return make_error("missing_claim", "token has no \"" + std::string(claim) + "\" claim");
}

// Bounds for NumericDate values: representable as a system_clock::time_point, so the arithmetic
// below can neither overflow nor trip UBSan on hostile numbers.
constexpr std::int64_t kMaxEpochSeconds =
    std::chrono::duration_cast<seconds>(system_clock::duration::max()).count() - 1;

std::int64_t to_epoch_seconds(system_clock::time_point t) {
  return std::chrono::floor<seconds>(t.time_since_epoch()).count();
}

system_clock::time_point from_epoch_seconds(std::int64_t s) {
  return system_clock::time_point(seconds(s));
}

// A claim that must be a non-empty string. Errors: missing_claim, malformed_token.
Result<std::string> string_claim(const boost::json::object& claims, std::string_view name) {
  const boost::json::value* v = claims.if_contains(name);
  if (v == nullptr || v->is_null()) return missing(name);
  if (!v->is_string()) return malformed("claim \"" + std::string(name) + "\" is not a string");
  if (v->as_string().empty()) return missing(name);
  return std::string(v->as_string());
}

// A NumericDate claim (whole seconds). Errors: missing_claim, malformed_token.
Result<std::int64_t> time_claim(const boost::json::object& claims, std::string_view name) {
  const boost::json::value* v = claims.if_contains(name);
  if (v == nullptr || v->is_null()) return missing(name);
  std::int64_t s = 0;
  if (v->is_int64()) {
    s = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(kMaxEpochSeconds)) {
    s = static_cast<std::int64_t>(v->as_uint64());
  } else {
    return malformed("claim \"" + std::string(name) + "\" is not an integer NumericDate");
  }
  if (s < 0 || s > kMaxEpochSeconds) {
    return malformed("claim \"" + std::string(name) + "\" is out of range");
  }
  return s;
}

// "aud" may be a string or an array of strings (RFC 7519 section 4.1.3).
Result<std::vector<std::string>> audience_claim(const boost::json::object& claims) {
  const boost::json::value* v = claims.if_contains("aud");
  if (v == nullptr || v->is_null()) return missing("aud");
  std::vector<std::string> out;
  if (v->is_string()) {
    out.emplace_back(v->as_string());
  } else if (v->is_array()) {
    for (const auto& item : v->as_array()) {
      if (!item.is_string()) return malformed("claim \"aud\" holds a non-string");
      out.emplace_back(item.as_string());
    }
  } else {
    return malformed("claim \"aud\" is neither a string nor an array");
  }
  std::erase_if(out, [](const std::string& a) { return a.empty(); });
  if (out.empty()) return missing("aud");
  return out;
}

}  // namespace

Result<std::string> new_token_id() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return make_error("random_failed", "RAND_bytes: " + openssl_error());
  }
  return hex(bytes.data(), bytes.size());
}

Result<std::string> generate_signing_key_pem() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return make_error("keygen_failed", "EVP_EC_gen(P-256): " + openssl_error());
  return write_pem(key.get(), /*private_key=*/true);
}

// ---- TokenSigner ----

TokenSigner::~TokenSigner() {
  if (!private_pem_.empty()) OPENSSL_cleanse(private_pem_.data(), private_pem_.size());
}

Result<TokenSigner> TokenSigner::from_pem(std::string_view ec_private_key_pem) {
  if (ec_private_key_pem.empty() || ec_private_key_pem.size() > kMaxPemBytes) {
    return make_error("invalid_key", "signing key is empty or too large");
  }
  BioPtr bio = read_bio(ec_private_key_pem);
  if (!bio) return make_error("internal", "BIO_new_mem_buf: " + openssl_error());
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    return make_error("invalid_key",
                      "signing key is not an unencrypted PEM private key: " + openssl_error());
  }
  if (!is_p256(key.get())) {
    return make_error("wrong_key_type", std::string("signing key must be EC P-256, got ") +
                                            EVP_PKEY_get0_type_name(key.get()));
  }
  // Re-encode both halves so libjwt always sees one canonical PKCS#8 / SPKI form.
  auto priv = write_pem(key.get(), /*private_key=*/true);
  if (!priv) return priv.error();
  auto pub = write_pem(key.get(), /*private_key=*/false);
  if (!pub) return pub.error();
  return TokenSigner(std::move(priv).value(), std::move(pub).value());
}

Result<std::string> TokenSigner::sign(const Claims& c) const {
  // Refuse to issue what TokenVerifier::verify would refuse, so mistakes surface at issue time.
  const std::pair<const char*, const std::string*> strings[] = {{"iss", &c.issuer},
                                                                {"aud", &c.audience},
                                                                {"ns", &c.ns},
                                                                {"sa", &c.service_account},
                                                                {"kind", &c.kind}};
  for (const auto& [name, value] : strings) {
    if (value->empty()) return missing(name);
  }
  if (c.kind != kKindJoin && c.kind != kKindLink) {
    return make_error("invalid_claim", "kind must be \"join\" or \"link\", got \"" + c.kind + "\"");
  }
  std::int64_t iat = to_epoch_seconds(c.issued_at);
  std::int64_t exp = to_epoch_seconds(c.expires_at);
  if (iat < 0 || exp <= iat) {
    return make_error("invalid_claim", "expires_at must be after issued_at (both after 1970)");
  }
  for (const auto& [name, value] : c.extra) {
    if (name.empty() || reserved_claims().contains(name)) {
      return make_error("invalid_claim", "extra claim name \"" + name + "\" is empty or reserved");
    }
  }
  std::string id = c.id;
  if (id.empty()) {
    auto fresh = new_token_id();
    if (!fresh) return fresh.error();
    id = std::move(fresh).value();
  }

  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return make_error("sign_failed", "jwt_new failed");
  JwtPtr jwt(raw);
  auto add = [&](const char* name, const std::string& value) {
    return jwt_add_grant(jwt.get(), name, value.c_str()) == 0;
  };
  bool ok = add("iss", c.issuer) && add("aud", c.audience) && add("ns", c.ns) &&
            add("sa", c.service_account) && add("kind", c.kind) && add("jti", id) &&
            jwt_add_grant_int(jwt.get(), "iat", static_cast<long>(iat)) == 0 &&
            jwt_add_grant_int(jwt.get(), "exp", static_cast<long>(exp)) == 0;
  for (const auto& [name, value] : c.extra) ok = ok && add(name.c_str(), value);
  if (!ok) return make_error("sign_failed", "adding claims to the JWT failed");

  int rc = jwt_set_alg(jwt.get(), JWT_ALG_ES256,
                       reinterpret_cast<const unsigned char*>(private_pem_.data()),
                       static_cast<int>(private_pem_.size()));
  if (rc != 0)
    return make_error("sign_failed", "jwt_set_alg(ES256): " + std::string(std::strerror(rc)));
  errno = 0;
  CStrPtr encoded(jwt_encode_str(jwt.get()));
  if (!encoded) {
    return make_error("sign_failed", "jwt_encode_str: " + std::string(std::strerror(errno)));
  }
  std::string token(encoded.get());
  if (token.size() > kMaxTokenBytes) {
    return make_error("invalid_claim", "token would be " + std::to_string(token.size()) +
                                           " bytes, over the " + std::to_string(kMaxTokenBytes) +
                                           " byte limit");
  }
  return token;
}

// ---- TokenVerifier ----

Result<TokenVerifier> TokenVerifier::from_public_pem(std::string_view public_key_pem) {
  if (public_key_pem.empty() || public_key_pem.size() > kMaxPemBytes) {
    return make_error("invalid_key", "verification key is empty or too large");
  }
  BioPtr bio = read_bio(public_key_pem);
  if (!bio) return make_error("internal", "BIO_new_mem_buf: " + openssl_error());
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    return make_error("invalid_key",
                      "verification key is not a PEM public key: " + openssl_error());
  }
  if (!is_p256(key.get())) {
    return make_error("wrong_key_type", std::string("verification key must be EC P-256, got ") +
                                            EVP_PKEY_get0_type_name(key.get()));
  }
  auto pub = write_pem(key.get(), /*private_key=*/false);
  if (!pub) return pub.error();
  return TokenVerifier(std::move(pub).value());
}

Result<Claims> TokenVerifier::verify(std::string_view token, std::string_view expected_audience,
                                     std::string_view expected_kind,
                                     system_clock::time_point now) const {
  // 1. Shape, before any parsing work: size, three segments, base64url, JSON objects.
  if (token.empty()) return malformed("token is empty");
  if (token.size() > kMaxTokenBytes) {
    return malformed("token is " + std::to_string(token.size()) + " bytes, over the " +
                     std::to_string(kMaxTokenBytes) + " byte limit");
  }
  std::size_t dot1 = token.find('.');
  std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return malformed("token is not three dot-separated segments");
  }
  auto header_json = base64url_decode(token.substr(0, dot1));
  auto payload_json = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header_json || !payload_json || !signature) return malformed("token is not base64url");
  auto header = parse_object(*header_json);
  if (!header) return malformed("token header is not a JSON object");
  if (!parse_object(*payload_json)) return malformed("token payload is not a JSON object");

  // 2. Pin the algorithm before libjwt sees the token: libjwt honours the header's alg, so "none"
  // would skip the check and HS256 would use our public key bytes as an HMAC secret.
  const boost::json::value* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string()) return malformed("token header has no \"alg\"");
  if (alg->as_string() != "ES256") {
    return forged("token algorithm is \"" + std::string(alg->as_string()) +
                  "\", only ES256 is accepted");
  }
  if (const boost::json::value* typ = header->if_contains("typ");
      typ != nullptr &&
      (!typ->is_string() || (typ->as_string() != "JWT" && typ->as_string() != "jwt"))) {
    return malformed("token header \"typ\" is not \"JWT\"");
  }

  // 3. Signature, by libjwt. The shape is known good, so a failure here is a bad signature.
  const std::string nul_terminated(token);
  jwt_t* raw = nullptr;
  int rc = jwt_decode(&raw, nul_terminated.c_str(),
                      reinterpret_cast<const unsigned char*>(public_pem_.data()),
                      static_cast<int>(public_pem_.size()));
  JwtPtr jwt(raw);
  if (rc != 0 || !jwt) {
    return forged("token signature does not verify with the controller key (" +
                  std::string(std::strerror(rc)) + ")");
  }
  if (jwt_get_alg(jwt.get()) != JWT_ALG_ES256) return forged("token algorithm is not ES256");

  // 4. Claims, read back from what libjwt verified (not from the pre-check parse).
  CStrPtr grants(jwt_get_grants_json(jwt.get(), nullptr));
  if (!grants) return malformed("token payload could not be read");
  auto payload = parse_object(grants.get());
  if (!payload) return malformed("token payload is not a JSON object");

  Claims out;
  auto iss = string_claim(*payload, "iss");
  if (!iss) return iss.error();
  auto aud = audience_claim(*payload);
  if (!aud) return aud.error();
  auto ns = string_claim(*payload, "ns");
  if (!ns) return ns.error();
  auto sa = string_claim(*payload, "sa");
  if (!sa) return sa.error();
  auto kind = string_claim(*payload, "kind");
  if (!kind) return kind.error();
  auto jti = string_claim(*payload, "jti");
  if (!jti) return jti.error();
  auto iat = time_claim(*payload, "iat");
  if (!iat) return iat.error();
  auto exp = time_claim(*payload, "exp");
  if (!exp) return exp.error();
  if (*exp <= *iat) return malformed("token expires before it was issued");

  // 5. Time. Values are bounded by time_claim, so the additions cannot overflow.
  const std::int64_t now_s = to_epoch_seconds(now);
  if (*exp + kExpiryLeeway.count() <= now_s) {
    return make_error("expired_token", "token expired at " + std::to_string(*exp) + " (now " +
                                           std::to_string(now_s) + ")");
  }
  if (*iat > now_s + kMaxIssuedInFuture.count()) {
    return make_error("not_yet_valid", "token issued in the future at " + std::to_string(*iat) +
                                           " (now " + std::to_string(now_s) + ")");
  }
  if (payload->contains("nbf")) {
    auto nbf = time_claim(*payload, "nbf");
    if (!nbf) return nbf.error();
    if (*nbf > now_s + kExpiryLeeway.count()) {
      return make_error("not_yet_valid", "token not valid before " + std::to_string(*nbf));
    }
  }

  // 6. Audience and kind: a token minted for one purpose is useless for another.
  const std::vector<std::string>& audiences = *aud;
  bool audience_ok = false;
  for (const auto& a : audiences) audience_ok = audience_ok || a == expected_audience;
  if (!audience_ok) {
    return make_error("wrong_audience", "token is for audience \"" + audiences.front() +
                                            "\", expected \"" + std::string(expected_audience) +
                                            "\"");
  }
  if (*kind != expected_kind) {
    return make_error("wrong_kind", "token kind is \"" + *kind + "\", expected \"" +
                                        std::string(expected_kind) + "\"");
  }

  out.issuer = std::move(iss).value();
  out.audience = std::string(expected_audience);
  out.ns = std::move(ns).value();
  out.service_account = std::move(sa).value();
  out.kind = std::move(kind).value();
  out.id = std::move(jti).value();
  out.issued_at = from_epoch_seconds(*iat);
  out.expires_at = from_epoch_seconds(*exp);
  for (const auto& [name, value] : *payload) {
    if (value.is_string() && !reserved_claims().contains(std::string_view(name))) {
      out.extra.emplace(std::string(name), std::string(value.as_string()));
    }
  }
  return out;
}

}  // namespace strait::token
