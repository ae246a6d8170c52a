// Proxy: strait-proxy assembled — identity, controller streams, outbound and inbound
// listeners, admin server, registration, and the drain on shutdown.
#pragma once

#include <memory>

#include "core/base/result.h"
#include "sidecar/proxy/proxy_config.h"

namespace strait::proxy {

struct ProxyPorts {
  std::uint16_t outbound = 0, inbound = 0, admin = 0;
  std::uint16_t explicit_port = 0;  // listen.explicit; 0 when off
};

class Proxy {
 public:
  virtual ~Proxy() = default;
  static Result<std::unique_ptr<Proxy>> create(ProxyConfig config);
  virtual ProxyPorts ports() const = 0;
  // Serves until drain() completes (SIGTERM, POST /shutdown).
  virtual void run() = 0;
  // Thread-safe: stop accepting, let connections finish up to the drain timeout, then cut them.
  virtual void drain() = 0;
};

}  // namespace strait::proxy
