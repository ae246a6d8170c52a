// ControllerAccess: reading the state directory and minting the admin certificate.
#include "controlplane/client/controller_access.h"

#include <boost/json.hpp>

#include "controlplane/server/controller_config.h"
#include "controlplane/server/state_files.h"
#include "core/config/config.h"
#include "core/tls/csr.h"
#include "core/tls/key.h"

namespace strait::controlplane {
namespace fs = std::filesystem;

std::unique_ptr<admin::v1::Admin::Stub> ControllerAccess::admin() const {
  return admin::v1::Admin::NewStub(make_channel(destination_address, credentials));
}

Result<ControllerAccess> access_from_state_dir(const fs::path& dir) {
  auto cfg = config::Config::from_file((dir / "controller.yaml").string());
  if (!cfg) {
    return make_error("no_controller",
                      "no controller installed in " + dir.string() + ": " + cfg.error().message);
  }
  auto config = ControllerConfig::from(*cfg);
  if (!config) return config.error();
  config->state_dir = dir;  // the directory as the user named it
  auto state = load_state(*config);
  if (!state) return state.error();
  auto endpoints = read_file(config->endpoints_file());
  if (!endpoints) {
    return make_error("controller_not_running", "the controller of " + dir.string() +
                                                    " has not started (no " +
                                                    config->endpoints_file().string() + ")");
  }
  boost::system::error_code ec;
  auto json = boost::json::parse(*endpoints, ec);
  if (ec || !json.is_object()) {
    return make_error("invalid_state", config->endpoints_file().string() + ": not JSON");
  }
  ControllerAccess out;
  out.cluster = config->cluster;
  out.trust_domain = config->trust_domain;
  const auto& o = json.as_object();
  if (auto* d = o.if_contains("destination"); d && d->is_string())
    out.destination_address = d->as_string().c_str();
  if (auto* i = o.if_contains("identity"); i && i->is_string())
    out.identity_address = i->as_string().c_str();

  // A short-lived admin certificate, signed here with the issuer from the state directory.
  auto key = tls::PrivateKey::generate_p256();
  if (!key) return key.error();
  auto id = identity::SpiffeId::parse(admin_identity(config->trust_domain));
  auto csr_pem = tls::make_csr(*key, *id);
  if (!csr_pem) return csr_pem.error();
  auto csr = tls::CertificateRequest::from_pem(*csr_pem);
  if (!csr) return csr.error();
  auto leaf = state->issuer.issue_leaf(*csr, *id, std::chrono::hours(1));
  if (!leaf) return leaf.error();
  out.credentials.anchor_pem = state->anchor_pem;
  out.credentials.cert_chain_pem = leaf->to_pem();
  for (const auto& c : state->issuer.chain()) out.credentials.cert_chain_pem += c.to_pem();
  out.credentials.key_pem = key->to_pem();
  return out;
}

}  // namespace strait::controlplane
