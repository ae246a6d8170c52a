// SPIFFE identities (spiffe://<trust-domain>/<path>) as the mesh names workloads, and the
// patterns authorization policies use to match them.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/result.h"

namespace strait::identity {

// A validated SPIFFE ID. Parsing is strict (the SPIFFE ID spec): an id that parses here is
// the canonical spelling, so string comparison is identity comparison.
class SpiffeId {
 public:
  static constexpr std::size_t kMaxLength = 2048;

  // Error code: invalid_spiffe_id.
  static Result<SpiffeId> parse(std::string_view text);
  // spiffe://<td>/ns/<ns>/sa/<sa>. The parts must be valid (the caller validated them);
  // an invalid part is a bug and asserts.
  static SpiffeId workload(std::string_view trust_domain, std::string_view ns,
                           std::string_view service_account);
  // True when `name` is a valid trust domain name on its own ("west.example").
  static bool is_valid_trust_domain(std::string_view name);

  std::string_view trust_domain() const { return trust_domain_; }
  std::string_view path() const { return path_; }  // "" or "/seg/seg..."
  std::string to_string() const;

  // The namespace / service account when the path is exactly /ns/<ns>/sa/<sa>.
  std::optional<std::string_view> ns() const;
  std::optional<std::string_view> service_account() const;

  friend bool operator==(const SpiffeId&, const SpiffeId&) = default;
  friend std::strong_ordering operator<=>(const SpiffeId&, const SpiffeId&) = default;

 private:
  SpiffeId(std::string trust_domain, std::string path)
      : trust_domain_(std::move(trust_domain)), path_(std::move(path)) {}
  std::optional<std::string_view> workload_part(std::size_t index) const;

  std::string trust_domain_;
  std::string path_;
};

// What a policy grants access to: "*" (any authenticated identity), an exact SPIFFE ID,
// or a prefix "spiffe://td/ns/shop/*" matching every id strictly below spiffe://td/ns/shop.
class IdentityPattern {
 public:
  // Error code: invalid_identity_pattern.
  static Result<IdentityPattern> parse(std::string_view text);
  static IdentityPattern any() { return IdentityPattern(Kind::kAny, std::nullopt); }
  static IdentityPattern exact(SpiffeId id) { return IdentityPattern(Kind::kExact, std::move(id)); }

  bool matches(const SpiffeId& id) const;
  std::string to_string() const;

  friend bool operator==(const IdentityPattern&, const IdentityPattern&) = default;

 private:
  enum class Kind { kAny, kExact, kPrefix };
  IdentityPattern(Kind kind, std::optional<SpiffeId> id) : kind_(kind), id_(std::move(id)) {}

  Kind kind_;
  std::optional<SpiffeId> id_;  // the exact id, or the prefix without "/*"
};

}  // namespace strait::identity
