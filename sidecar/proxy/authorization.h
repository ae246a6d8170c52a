// Authorization: the inbound decision for one connection — a client (identity or none, and
// its address) against the policy of the port it wants. Pure; the proxy counts the result.
#pragma once

#include <optional>
#include <string>

#include "core/identity/spiffe_id.h"
#include "strait/policy.pb.h"

namespace strait::proxy {

struct Verdict {
  bool allowed = false;
  std::string authorization;  // what admitted it ("default:all-authenticated", a policy name)
  std::string reason;         // why not ("unauthenticated", "identity_not_allowed", ...)
};

Verdict authorize(const policy::v1::InboundPolicy& policy,
                  const std::optional<identity::SpiffeId>& client, const std::string& source_ip);

// True when `ip` lies in `cidr` ("198.18.0.0/16", "::1/128", or a bare address).
bool in_network(const std::string& ip, const std::string& cidr);

}  // namespace strait::proxy
