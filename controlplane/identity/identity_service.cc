// IdentityService: Certify over gRPC.
#include "controlplane/identity/identity_service.h"

#include <chrono>

#include "controlplane/server/peer.h"

namespace strait::controlplane {

IdentityService::IdentityService(const Certifier& certifier, Hooks hooks)
    : certifier_(certifier), hooks_(std::move(hooks)) {}

grpc::StatusCode IdentityService::status_for(const std::string& reason) {
  if (reason == "identity_mismatch" || reason == "outside_trust_domain") {
    return grpc::StatusCode::PERMISSION_DENIED;
  }
  if (reason == "invalid_identity" || reason == "malformed_csr" || reason == "wrong_key_type" ||
      reason == "wrong_key_size" || reason == "bad_csr_signature" ||
      reason == "csr_identity_mismatch") {
    return grpc::StatusCode::INVALID_ARGUMENT;
  }
  if (reason == "signing_failed") return grpc::StatusCode::INTERNAL;
  return grpc::StatusCode::UNAUTHENTICATED;  // every token problem
}

grpc::ServerUnaryReactor* IdentityService::Certify(grpc::CallbackServerContext* context,
                                                   const identity::v1::CertifyRequest* request,
                                                   identity::v1::CertifyResponse* response) {
  auto* reactor = context->DefaultReactor();
  // A renewal proves the identity with the client certificate the caller holds now.
  auto issued = certifier_.certify(request->identity(), request->token(),
                                   request->certificate_signing_request(), peer_identity(*context));
  if (!issued) {
    const auto& e = issued.error();
    if (hooks_.refused) hooks_.refused(e.code, e.message);
    reactor->Finish(grpc::Status(status_for(e.code), e.code + ": " + e.message));
    return reactor;
  }
  response->set_leaf_certificate(issued->leaf_pem);
  for (const auto& c : issued->intermediates_pem) response->add_intermediate_certificates(c);
  response->set_valid_until_unix(
      std::chrono::duration_cast<std::chrono::seconds>(issued->expiry.time_since_epoch()).count());
  if (hooks_.issued) hooks_.issued(request->identity());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace strait::controlplane
