// Authorization: the inbound decision for one connection — a client (identity or none, and
// its address) against the policy of the port it wants. Pure; the proxy counts the result.
#pragma once

#include <optional>
#include <string>

#include "core/identity/spiffe_id.h"
#include "core/net/network.h"
#include "strait/policy.pb.h"

namespace strait::proxy {

struct Verdict {
  bool allowed = false;
  std::string authorization;  // what admitted it ("default:all-authenticated", a policy name)
  std::string reason;         // why not ("unauthenticated", "identity_not_allowed", ...)
};

Verdict authorize(const policy::v1::InboundPolicy& policy,
                  const std::optional<identity::SpiffeId>& client, const std::string& source_ip);

using net::in_network;

}  // namespace strait::proxy
