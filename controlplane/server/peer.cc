// Reads the caller's identity from the gRPC auth context (the verified client certificate).
#include "controlplane/server/peer.h"

#include "core/tls/certificate.h"

namespace strait::controlplane {

std::optional<identity::SpiffeId> peer_identity(const grpc::ServerContextBase& context) {
  auto auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return std::nullopt;
  auto pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) return std::nullopt;
  auto cert =
      tls::Certificate::from_pem(std::string_view(pems.front().data(), pems.front().size()));
  if (!cert) return std::nullopt;
  return cert->spiffe_id();
}

std::string peer_ip(const grpc::ServerContextBase& context) {
  std::string peer = context.peer();  // "ipv4:1.2.3.4:5678" or "ipv6:[::1]:5678"
  if (peer.rfind("ipv4:", 0) == 0) {
    peer = peer.substr(5);
    return peer.substr(0, peer.rfind(':'));
  }
  if (peer.rfind("ipv6:", 0) == 0) {
    peer = peer.substr(5);
    auto close = peer.find(']');
    if (peer.front() == '[' && close != std::string::npos) return peer.substr(1, close - 1);
  }
  return {};
}

}  // namespace strait::controlplane
