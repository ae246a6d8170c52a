// Authorization: default policies, then each authorization's identities and networks.
#include "sidecar/proxy/authorization.h"

namespace strait::proxy {
namespace pv = policy::v1;

namespace {

bool identity_matches(const pv::Authorization& a, const std::optional<identity::SpiffeId>& client) {
  if (a.unauthenticated()) return true;
  if (!client) return false;
  if (a.identities().empty()) return true;  // any authenticated client
  for (const auto& text : a.identities()) {
    auto pattern = identity::IdentityPattern::parse(text);
    if (pattern && pattern->matches(*client)) return true;
  }
  return false;
}

bool network_matches(const pv::Authorization& a, const std::string& source) {
  if (a.networks().empty()) return true;
  for (const auto& n : a.networks()) {
    if (in_network(source, n)) return true;
  }
  return false;
}

}  // namespace

Verdict authorize(const pv::InboundPolicy& policy, const std::optional<identity::SpiffeId>& client,
                  const std::string& source_ip) {
  if (policy.server().empty()) {
    switch (policy.default_policy()) {
      case pv::ALL_UNAUTHENTICATED:
        return {true, "default:all-unauthenticated", ""};
      case pv::ALL_AUTHENTICATED:
        if (client) return {true, "default:all-authenticated", ""};
        return {false, "", "unauthenticated"};
      default:
        return {false, "", "default_deny"};
    }
  }
  bool identity_ok = false;
  for (const auto& a : policy.authorizations()) {
    if (!identity_matches(a, client)) continue;
    identity_ok = true;
    if (network_matches(a, source_ip)) return {true, a.name(), ""};
  }
  if (identity_ok) return {false, "", "network_not_allowed"};
  return {false, "", client ? "identity_not_allowed" : "unauthenticated"};
}

}  // namespace strait::proxy
