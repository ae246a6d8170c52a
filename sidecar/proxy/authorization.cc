// Authorization: default policies, then each authorization's identities and networks.
#include "sidecar/proxy/authorization.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace strait::proxy {
namespace pv = policy::v1;

bool in_network(const std::string& ip, const std::string& cidr) {
  auto slash = cidr.find('/');
  std::string net = cidr.substr(0, slash);
  unsigned char a[16], n[16];
  int family = net.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (inet_pton(family, ip.c_str(), a) != 1 || inet_pton(family, net.c_str(), n) != 1) return false;
  int bits = family == AF_INET ? 32 : 128;
  int prefix = bits;
  if (slash != std::string::npos) {
    // The whole rest must be a number: "10.0.0.0/" or "/8x" would otherwise admit too much.
    const char* first = cidr.data() + slash + 1;
    const char* last = cidr.data() + cidr.size();
    auto [end, ec] = std::from_chars(first, last, prefix);
    if (ec != std::errc() || end != last || first == last) return false;
  }
  if (prefix < 0 || prefix > bits) return false;
  int full = prefix / 8;
  if (std::memcmp(a, n, static_cast<std::size_t>(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (n[full] & mask);
}

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
