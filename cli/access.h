// ControllerAccess: how straitctl reaches a controller. From a state directory (--state-dir
// or STRAIT_STATE_DIR): the addresses the controller published in run/endpoints.json and an
// admin certificate minted on the spot from the issuer there. Or explicitly: --controller
// HOST:PORT with --ca, --cert and --key.
#pragma once

#include <memory>
#include <string>

#include "cli/args.h"
#include "controlplane/client/controller_access.h"
#include "core/base/result.h"
#include "strait/admin.grpc.pb.h"

namespace strait::cli {

using controlplane::ControllerAccess;

Result<ControllerAccess> resolve_access(const Args& args);

// The state directory straitctl was pointed at (--state-dir, else STRAIT_STATE_DIR); "" when
// there is none or --controller was given.
std::string state_dir_of(const Args& args);

}  // namespace strait::cli
