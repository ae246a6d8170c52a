// SPIFFE ID parsing and validation
// (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md) and identity pattern
// matching.
#include "core/identity/spiffe_id.h"

#include <array>

namespace strait::identity {
namespace {

constexpr std::string_view kScheme = "spiffe://";

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Trust domains are lowercase only: one canonical spelling per domain, so comparisons and
// scope checks are plain string equality. This also rules out ports, userinfo and percent
// escapes, which the spec forbids.
bool is_trust_domain_char(char c) { return is_lower_alnum(c) || c == '.' || c == '-' || c == '_'; }

// Path segments: unreserved characters only, which excludes '?', '#' and percent escapes.
bool is_path_char(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '_';
}

Error invalid(std::string_view text, std::string_view why) {
  return make_error("invalid_spiffe_id",
                    "'" + std::string(text.substr(0, 128)) + "': " + std::string(why));
}

// Empty string on success, otherwise why the path is invalid.
std::string_view path_problem(std::string_view path) {
  while (!path.empty()) {
    path.remove_prefix(1);  // the '/'
    const std::size_t end = path.find('/');
    const std::string_view segment = path.substr(0, end);
    if (segment.empty()) return "empty path segment";
    if (segment == "." || segment == "..") return "'.' and '..' path segments are not allowed";
    for (char c : segment) {
      if (!is_path_char(c)) return "path contains a character other than [a-zA-Z0-9.-_]";
    }
    path = end == std::string_view::npos ? std::string_view{} : path.substr(end);
  }
  return {};
}

}  // namespace

bool SpiffeId::is_valid_trust_domain(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!is_trust_domain_char(c)) return false;
  }
  return true;
}

Result<SpiffeId> SpiffeId::parse(std::string_view text) {
  if (text.size() > kMaxLength) return invalid(text, "longer than 2048 bytes");
  if (!text.starts_with(kScheme)) return invalid(text, "scheme must be spiffe://");
  const std::string_view rest = text.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  const std::string_view domain = rest.substr(0, slash);
  const std::string_view path =
      slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (domain.empty()) return invalid(text, "missing trust domain");
  if (!is_valid_trust_domain(domain)) {
    return invalid(text,
                   "trust domain must be lowercase [a-z0-9.-_] (no port, userinfo or escapes)");
  }
  if (const std::string_view problem = path_problem(path); !problem.empty())
    return invalid(text, problem);
  return SpiffeId(std::string(domain), std::string(path));
}

SpiffeId SpiffeId::workload(std::string_view trust_domain, std::string_view ns,
                            std::string_view service_account) {
  std::string text = std::string(kScheme);
  text.append(trust_domain).append("/ns/").append(ns).append("/sa/").append(service_account);
  Result<SpiffeId> id = parse(text);
  assert(id.ok() && "SpiffeId::workload called with an invalid part");
  return std::move(id).value();
}

std::string SpiffeId::to_string() const {
  std::string out;
  out.reserve(kScheme.size() + trust_domain_.size() + path_.size());
  return out.append(kScheme).append(trust_domain_).append(path_);
}

// Segment `index` of a path shaped exactly /ns/<ns>/sa/<sa>.
std::optional<std::string_view> SpiffeId::workload_part(std::size_t index) const {
  std::array<std::string_view, 4> segments;
  std::string_view rest = path_;
  for (std::string_view& segment : segments) {
    if (rest.empty()) return std::nullopt;
    rest.remove_prefix(1);
    const std::size_t end = rest.find('/');
    segment = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  }
  if (!rest.empty() || segments[0] != "ns" || segments[2] != "sa") return std::nullopt;
  return segments[index];
}

std::optional<std::string_view> SpiffeId::ns() const { return workload_part(1); }
std::optional<std::string_view> SpiffeId::service_account() const { return workload_part(3); }

Result<IdentityPattern> IdentityPattern::parse(std::string_view text) {
  if (text == "*") return any();
  const bool prefix = text.ends_with("/*");
  Result<SpiffeId> id = SpiffeId::parse(prefix ? text.substr(0, text.size() - 2) : text);
  if (!id.ok()) {
    return make_error(
        "invalid_identity_pattern",
        "expected '*', a SPIFFE ID, or a SPIFFE ID followed by '/*' (" + id.error().message + ")");
  }
  return IdentityPattern(prefix ? Kind::kPrefix : Kind::kExact, std::move(id).value());
}

bool IdentityPattern::matches(const SpiffeId& id) const {
  switch (kind_) {
    case Kind::kAny:
      return true;
    case Kind::kExact:
      return id == *id_;
    case Kind::kPrefix:
      return id.trust_domain() == id_->trust_domain() && id.path().size() > id_->path().size() &&
             id.path().starts_with(id_->path()) && id.path()[id_->path().size()] == '/';
  }
  return false;
}

std::string IdentityPattern::to_string() const {
  switch (kind_) {
    case Kind::kAny:
      return "*";
    case Kind::kExact:
      return id_->to_string();
    case Kind::kPrefix:
      return id_->to_string() + "/*";
  }
  return {};
}

}  // namespace strait::identity
