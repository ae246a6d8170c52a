// ControllerAccess: how a tool on the controller's machine (straitctl, strait-link) reaches
// it with admin rights: the addresses the controller published in run/endpoints.json and a
// short-lived admin certificate minted with the issuer of the state directory.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "controlplane/client/channel.h"
#include "core/base/result.h"
#include "strait/admin.grpc.pb.h"

namespace strait::controlplane {

struct ControllerAccess {
  std::string destination_address;  // admin API, destination, policy, registration
  std::string identity_address;
  std::string cluster;
  std::string trust_domain;
  ClientCredentials credentials;

  std::unique_ptr<admin::v1::Admin::Stub> admin() const;
};

// Errors: no_controller (nothing installed there), controller_not_running, invalid_state.
Result<ControllerAccess> access_from_state_dir(const std::filesystem::path& dir);

}  // namespace strait::controlplane
