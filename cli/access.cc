// ControllerAccess: finding the controller and credentials for it.
#include "cli/access.h"

#include <boost/json.hpp>
#include <cstdlib>

#include "controlplane/server/controller_config.h"
#include "controlplane/server/state_files.h"
#include "core/config/config.h"
#include "core/tls/csr.h"
#include "core/tls/key.h"

namespace strait::cli {
namespace fs = std::filesystem;
using controlplane::read_file;

std::unique_ptr<admin::v1::Admin::Stub> ControllerAccess::admin() const {
  return admin::v1::Admin::NewStub(controlplane::make_channel(destination_address, credentials));
}

namespace {

Result<ControllerAccess> from_state_dir(const fs::path& dir) {
  auto cfg = config::Config::from_file((dir / "controller.yaml").string());
  if (!cfg) {
    return make_error("no_controller", "no controller installed in " + dir.string() + ": " +
                                           cfg.error().message);
  }
  auto config = controlplane::ControllerConfig::from(*cfg);
  if (!config) return config.error();
  config->state_dir = dir;  // the directory as the user named it
  auto state = controlplane::load_state(*config);
  if (!state) return state.error();
  auto endpoints = read_file(config->endpoints_file());
  if (!endpoints) {
    return make_error("controller_not_running",
                      "the controller of " + dir.string() + " has not started (no " +
                          config->endpoints_file().string() + ")");
  }
  boost::system::error_code ec;
  auto json = boost::json::parse(*endpoints, ec);
  if (ec || !json.is_object()) {
    return make_error("invalid_state", config->endpoints_file().string() + ": not JSON");
  }
  ControllerAccess out;
  const auto& o = json.as_object();
  if (auto* d = o.if_contains("destination"); d && d->is_string()) out.destination_address = d->as_string().c_str();
  if (auto* i = o.if_contains("identity"); i && i->is_string()) out.identity_address = i->as_string().c_str();

  // A short-lived admin certificate, signed here with the issuer from the state directory.
  auto key = tls::PrivateKey::generate_p256();
  if (!key) return key.error();
  auto id = identity::SpiffeId::parse(controlplane::admin_identity(config->trust_domain));
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

}  // namespace

Result<ControllerAccess> resolve_access(const Args& args) {
  if (auto addr = args.get("controller")) {
    ControllerAccess out;
    out.destination_address = *addr;
    out.identity_address = args.get_or("identity-address", "");
    auto ca = args.get("ca");
    auto cert = args.get("cert");
    auto key = args.get("key");
    if (!ca || !cert || !key) {
      return make_error("missing_credentials", "--controller needs --ca, --cert and --key");
    }
    for (auto [path, dest] : {std::pair{*ca, &out.credentials.anchor_pem},
                              std::pair{*cert, &out.credentials.cert_chain_pem},
                              std::pair{*key, &out.credentials.key_pem}}) {
      auto content = read_file(path);
      if (!content) return content.error();
      *dest = *content;
    }
    return out;
  }
  std::string dir = args.get_or("state-dir", "");
  if (dir.empty()) {
    if (const char* env = std::getenv("STRAIT_STATE_DIR")) dir = env;
  }
  if (dir.empty()) {
    return make_error("no_controller",
                      "say which controller: --state-dir DIR (or STRAIT_STATE_DIR), or "
                      "--controller HOST:PORT with --ca, --cert and --key");
  }
  return from_state_dir(dir);
}

}  // namespace strait::cli
