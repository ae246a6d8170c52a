// Certify: what a workload does at start-up and at renewal — a fresh key in memory, a CSR,
// and the identity service's answer.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "controlplane/client/channel.h"
#include "core/base/result.h"
#include "core/identity/spiffe_id.h"

namespace strait::controlplane {

struct WorkloadCredentials {
  std::string identity;
  std::string key_pem;
  std::string cert_pem;                // the leaf
  std::vector<std::string> chain_pem;  // intermediates, issuer first
  std::chrono::system_clock::time_point expiry;

  std::string cert_chain_pem() const;  // leaf then intermediates
};

// Error codes: the gRPC status name in lowercase ("unauthenticated", "unavailable", ...),
// with the server's reason in the message. With `current` and an empty token, this is a
// renewal: the call presents the current certificate instead of a token.
Result<WorkloadCredentials> certify(const std::string& identity_address,
                                    const std::string& anchor_pem, const identity::SpiffeId& id,
                                    const std::string& token, std::chrono::milliseconds timeout,
                                    const WorkloadCredentials* current = nullptr);

}  // namespace strait::controlplane
