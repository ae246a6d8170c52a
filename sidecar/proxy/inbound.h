// Inbound: the proxy's server side (4143). For each connection: detect TLS within the
// handshake timeout; TLS -> terminate mTLS (client certificate optional, verified when
// present) and read the transport header for the target port; plain (redirected by
// strait-init) -> the original destination's port. Then authorize the client identity and
// source network against the port's policy, and forward to the application at
// inbound.forwardAddress (127.0.0.1 unless configured) and the target port.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <optional>

#include "sidecar/proxy/proxy_context.h"
#include "sidecar/proxy/stream.h"
#include "sidecar/proxy/transport_header.h"

namespace strait::proxy {

boost::asio::awaitable<void> serve_inbound(ProxyContext& ctx, boost::asio::ip::tcp::socket peer);

// What the accepting layer learned about a connection before routing it: shared by the
// sidecar's inbound and the gateway.
struct Accepted {
  std::unique_ptr<AnyStream> stream;
  std::optional<identity::SpiffeId> client;  // verified certificate, if any
  std::string source_ip;
  TransportHeader header;  // for plain connections: only target_port (the original port)
};

// Detects TLS, terminates it, reads the header. `require_tls` refuses plaintext (gateways).
// Error codes: handshake_timeout, tls_handshake_failed, bad_transport_header,
// plaintext_to_proxy_port, no_identity.
boost::asio::awaitable<Result<Accepted>> accept_connection(ProxyContext& ctx,
                                                           boost::asio::ip::tcp::socket peer,
                                                           bool require_tls);

}  // namespace strait::proxy
