// Outbound: the proxy's client side (4140). For each connection the application opened:
// original destination -> destination lookup (cached stream) -> endpoint (power of two
// choices) -> connect within the connect timeout -> mTLS verifying the endpoint's identity ->
// transport header -> relay. A destination the mesh does not know: plain TCP to it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "sidecar/proxy/proxy_context.h"
#include "sidecar/proxy/stream.h"
#include "sidecar/proxy/transport_header.h"

namespace strait::proxy {

boost::asio::awaitable<void> serve_outbound(ProxyContext& ctx, boost::asio::ip::tcp::socket app,
                                            boost::asio::ip::tcp::endpoint original);

// Opens the upstream side for an endpoint: TCP within the connect timeout, then, when the
// endpoint has an identity and a proxy port, mTLS that must prove exactly that identity,
// and the transport header. Error codes are tcp_close_total's error labels (connect_timeout,
// connect_refused, tls_handshake_failed, identity_mismatch, no_identity). Shared with the gateway.
boost::asio::awaitable<Result<std::unique_ptr<AnyStream>>> connect_upstream(
    ProxyContext& ctx, const destination::v1::WeightedAddr& addr, const TransportHeader& header);

}  // namespace strait::proxy
