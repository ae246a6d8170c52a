// Outbound: the proxy's client side (4140). For each connection the application opened:
// original destination -> dial (dial.h: destination lookup, fail fast, the balancer's endpoint,
// connect, mTLS verifying the endpoint's identity, transport header) -> relay. A destination
// the mesh does not know: plain TCP to it. Explicit mode (explicit.h) enters after the original
// destination, with the CONNECT target instead.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "sidecar/proxy/proxy_context.h"
#include "sidecar/proxy/stream.h"
#include "sidecar/proxy/transport_header.h"

namespace strait::proxy {

// An intercepted connection: joins the connection set, then forward_outbound without a reply.
boost::asio::awaitable<void> serve_outbound(ProxyContext& ctx, boost::asio::ip::tcp::socket app,
                                            boost::asio::ip::tcp::endpoint original);

// The application's side of an outbound connection, for entry points that owe it an answer
// before bytes flow (explicit mode: the response to CONNECT). Intercepted connections have none:
// a refusal just closes the socket.
class OutboundReply {
 public:
  virtual ~OutboundReply() = default;
  // The mesh refused (status 503: resolve failed, no ready endpoint within the fail-fast
  // timeout) or the upstream could not be opened (502). Already counted and logged.
  virtual boost::asio::awaitable<void> refused(boost::asio::ip::tcp::socket& app, int status,
                                               const Error& why) = 0;
  // The upstream is open and secured. An error: the application went away.
  virtual boost::asio::awaitable<boost::system::error_code> established(
      boost::asio::ip::tcp::socket& app) = 0;
  // Bytes the application sent ahead of the answer: written to the upstream first.
  virtual std::string early_data() { return {}; }
};

// Everything after "we know the target", shared by both entry points: destination lookup,
// fail fast, balancing, mTLS, transport header, metrics, relay. The caller has joined the
// connection set (`member`) and holds `app` in it; `reply` may be null.
boost::asio::awaitable<void> forward_outbound(ProxyContext& ctx, ConnectionSet::Member& member,
                                              boost::asio::ip::tcp::socket app,
                                              boost::asio::ip::tcp::endpoint original,
                                              OutboundReply* reply);

}  // namespace strait::proxy
