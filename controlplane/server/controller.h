// Controller: strait-controller assembled. Owns the store, the CA, the indexes that turn
// store events into streams, the gRPC servers (identity on 8080 with server TLS; destination,
// policy, registration and admin API on 8086 with mTLS; the export API for links on 8443), the
// DNS server for the cluster's zones (53, UDP and TCP) and the admin HTTP server (9990).
#pragma once

#include <memory>

#include "controlplane/server/controller_config.h"
#include "core/base/result.h"

namespace strait::controlplane {

struct BoundPorts {
  std::uint16_t identity = 0;
  std::uint16_t destination = 0;
  std::uint16_t admin = 0;
  std::uint16_t exports = 0;
  std::uint16_t dns = 0;  // 0: no DNS server (listen.dns empty)
};

class Controller {
 public:
  virtual ~Controller() = default;
  // Loads the state directory, binds every listener, and serves in background threads.
  static Result<std::unique_ptr<Controller>> start(ControllerConfig config);

  virtual BoundPorts ports() const = 0;
  // Drains (ends streams, stops accepting) then cancels what is left after the deadline.
  virtual void shutdown(std::chrono::milliseconds deadline) = 0;
};

}  // namespace strait::controlplane
