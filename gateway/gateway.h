// strait-gateway: where traffic from other clusters enters this one. Composed from the
// sidecar's layers: accept_connection (mTLS, transport header) in front, connect_upstream
// (endpoint choice, mTLS to the target's proxy with the gateway's own identity) behind, plus
// what only a gateway has — the target name check, loop detection and a TLS probe endpoint.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>

#include "core/base/result.h"
#include "sidecar/proxy/proxy_context.h"
#include "sidecar/proxy/proxy_config.h"

namespace strait::gateway {

// "<svc>.<ns>.svc.<domain>:<port>" with <domain> the local cluster's: the authority to resolve.
// Errors: no_target_name, outside_domain (with the name in the message), bad_target_port (not
// 1..65535 in its one spelling: digits, no leading zeros).
Result<std::string> local_authority(const std::string& target_name, const std::string& domain);

boost::asio::awaitable<void> serve_gateway(proxy::ProxyContext& ctx,
                                           boost::asio::ip::tcp::socket peer);

struct GatewayPorts {
  std::uint16_t gateway = 0, admin = 0;
};

class Gateway {
 public:
  virtual ~Gateway() = default;
  // config.inbound_listen is the gateway port (4143); config.admin_listen the TLS admin/probe
  // port (4191).
  static Result<std::unique_ptr<Gateway>> create(proxy::ProxyConfig config);
  virtual GatewayPorts ports() const = 0;
  virtual void run() = 0;
  virtual void drain() = 0;
};

}  // namespace strait::gateway
