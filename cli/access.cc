// ControllerAccess: finding the controller and credentials for it.
#include "cli/access.h"

#include <cstdlib>

#include "controlplane/server/state_files.h"

namespace strait::cli {
using controlplane::read_file;

std::string state_dir_of(const Args& args) {
  if (args.has("controller")) return "";
  std::string dir = args.get_or("state-dir", "");
  if (dir.empty()) {
    if (const char* env = std::getenv("STRAIT_STATE_DIR")) dir = env;
  }
  return dir;
}

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
  const std::string dir = state_dir_of(args);
  if (dir.empty()) {
    return make_error("no_controller",
                      "say which controller: --state-dir DIR (or STRAIT_STATE_DIR), or "
                      "--controller HOST:PORT with --ca, --cert and --key");
  }
  return controlplane::access_from_state_dir(dir);
}

}  // namespace strait::cli
