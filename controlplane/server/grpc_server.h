// The controller's gRPC listeners, built one way: every address the config names, the same
// per-connection limits (TLS handshake deadline, idle limit, concurrent streams, keepalive
// policy), and IssuerCheck in front of every call — a client certificate must come from this
// cluster's issuer, not merely chain to a trust anchor that other clusters may share.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/base/result.h"
#include "core/tls/certificate.h"

namespace strait::controlplane {

// Refuses (UNAUTHENTICATED, before any service runs) a call whose client certificate was not
// signed by `issuer`. With allow_anonymous, calls without a certificate pass (identity: a join
// token authenticates them). Results are cached per certificate, so the signature is checked
// once per client certificate, not per call.
class IssuerCheck final : public grpc::AuthMetadataProcessor {
 public:
  using Refused = std::function<void(const std::string& reason, const std::string& detail)>;
  IssuerCheck(tls::Certificate issuer, bool allow_anonymous, Refused refused);

  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  bool issued_here(const std::string& leaf_pem);

  const tls::Certificate issuer_;
  const bool allow_anonymous_;
  Refused refused_;
  std::mutex mu_;
  std::unordered_map<std::string, bool> verdicts_;  // leaf PEM -> issued here
};

struct GrpcLimits {
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds connection_idle{300'000};
  std::uint32_t max_concurrent_streams = 1000;
};

struct BuiltServer {
  std::unique_ptr<grpc::Server> server;
  std::vector<std::uint16_t> ports;  // bound, one per address, in order
};

// Binds every address with `credentials`, applies `limits`, registers `services` and starts.
// `configure` may add channel arguments of its own. Error bind_failed names what did not bind.
Result<BuiltServer> build_server(const std::string& what, const std::vector<std::string>& addresses,
                                 const std::shared_ptr<grpc::ServerCredentials>& credentials,
                                 const GrpcLimits& limits,
                                 const std::vector<grpc::Service*>& services,
                                 const std::function<void(grpc::ServerBuilder&)>& configure = {});

// Established TCP connections whose local port is `port` (this process's network namespace),
// from /proc/self/net/tcp and tcp6: what a listener holds open, handshaken or not.
std::size_t established_connections(std::uint16_t port);

}  // namespace strait::controlplane
