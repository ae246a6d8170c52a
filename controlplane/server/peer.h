// The authenticated caller of a gRPC request: the SPIFFE id of its client certificate.
#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>

#include "core/identity/spiffe_id.h"

namespace strait::controlplane {

// Empty when the caller presented no certificate or one without a SPIFFE id.
std::optional<identity::SpiffeId> peer_identity(const grpc::ServerContextBase& context);

// The caller's IP address ("" when unknown), from a peer string like "ipv4:1.2.3.4:5678".
std::string peer_ip(const grpc::ServerContextBase& context);

}  // namespace strait::controlplane
