// IdentityService: the gRPC face of Certifier. Each refusal maps to a status code and a
// counted reason.
#pragma once

#include <functional>
#include <string>

#include "controlplane/identity/certifier.h"
#include "strait/identity.grpc.pb.h"

namespace strait::controlplane {

class IdentityService final : public identity::v1::Identity::CallbackService {
 public:
  struct Hooks {
    std::function<void(const std::string& identity)> issued;
    std::function<void(const std::string& reason, const std::string& message)> refused;
  };
  IdentityService(const Certifier& certifier, Hooks hooks);

  grpc::ServerUnaryReactor* Certify(grpc::CallbackServerContext* context,
                                    const identity::v1::CertifyRequest* request,
                                    identity::v1::CertifyResponse* response) override;

  // The gRPC status for a refusal code (UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT).
  static grpc::StatusCode status_for(const std::string& reason);

 private:
  const Certifier& certifier_;
  Hooks hooks_;
};

}  // namespace strait::controlplane
