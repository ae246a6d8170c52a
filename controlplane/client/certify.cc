// Certify: key generation, CSR and the Certify call.
#include "controlplane/client/certify.h"

#include <algorithm>
#include <cctype>

#include "core/tls/csr.h"
#include "core/tls/key.h"
#include "strait/identity.grpc.pb.h"

namespace strait::controlplane {

std::string WorkloadCredentials::cert_chain_pem() const {
  std::string out = cert_pem;
  for (const auto& c : chain_pem) out += c;
  return out;
}

namespace {

std::string status_code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return "unauthenticated";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "permission_denied";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "invalid_argument";
    case grpc::StatusCode::UNAVAILABLE:
      return "unavailable";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "deadline_exceeded";
    default:
      return "grpc_error_" + std::to_string(static_cast<int>(code));
  }
}

}  // namespace

Result<WorkloadCredentials> certify(const std::string& identity_address,
                                    const std::string& anchor_pem, const identity::SpiffeId& id,
                                    const std::string& token, std::chrono::milliseconds timeout,
                                    const WorkloadCredentials* current) {
  auto key = tls::PrivateKey::generate_p256();
  if (!key) return key.error();
  auto csr = tls::make_csr(*key, id);
  if (!csr) return csr.error();

  ClientCredentials creds{anchor_pem, "", ""};
  if (current != nullptr) {
    creds.cert_chain_pem = current->cert_chain_pem();
    creds.key_pem = current->key_pem;
  }
  auto channel = make_channel(identity_address, creds);
  auto stub = identity::v1::Identity::NewStub(channel);
  identity::v1::CertifyRequest req;
  req.set_identity(id.to_string());
  req.set_token(token);
  req.set_certificate_signing_request(*csr);
  identity::v1::CertifyResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  auto status = stub->Certify(&ctx, req, &resp);
  if (!status.ok()) {
    return make_error(status_code_name(status.error_code()),
                      describe_status(status, identity_address));
  }
  WorkloadCredentials out;
  out.identity = id.to_string();
  out.key_pem = key->to_pem();
  out.cert_pem = resp.leaf_certificate();
  out.chain_pem.assign(resp.intermediate_certificates().begin(),
                       resp.intermediate_certificates().end());
  out.expiry = std::chrono::system_clock::time_point(std::chrono::seconds(resp.valid_until_unix()));
  return out;
}

}  // namespace strait::controlplane
