// Channels to the controller: TLS with the cluster's trust anchor, and a client certificate
// where the API needs one (destination, policy, registration, admin).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace strait::controlplane {

struct ClientCredentials {
  std::string anchor_pem;      // roots that sign the controller's certificate
  std::string cert_chain_pem;  // leaf then intermediates; empty: no client certificate
  std::string key_pem;
};

std::shared_ptr<grpc::Channel> make_channel(const std::string& address,
                                            const ClientCredentials& credentials);

// "cannot reach the controller at ADDR: ..." for UNAVAILABLE / DEADLINE_EXCEEDED, otherwise
// the status message; the code names the gRPC status.
std::string describe_status(const grpc::Status& status, const std::string& address);

}  // namespace strait::controlplane
