// Outbound: the proxy's client side (4140). For each connection the application opened:
// original destination -> for a meshed, inspectable target protocol detection, and HTTP served
// per request (http_outbound.h) -> else dial (dial.h: destination lookup, fail fast, the
// balancer's endpoint, connect, mTLS verifying the endpoint's identity, transport header) ->
// relay. A destination the mesh does not know: plain TCP to it. Explicit mode (explicit.h)
// enters after the original destination, with the CONNECT target instead.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "sidecar/proxy/dial.h"
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

// The route of a target whose traffic is inspected (a meshed service, a port not marked
// opaque, HTTP on); nullopt: relay it as bytes (forward_outbound).
boost::asio::awaitable<std::optional<Route>> http_route(
    ProxyContext& ctx, const boost::asio::ip::tcp::endpoint& original);

// For such a target, once the application may send (intercepted: at once; explicit: after the
// 200): detection over `early` (bytes already read) and what follows, then HTTP per request
// (HTTP/1 or HTTP/2 sessions, OutboundHttp), an upgrade or opaque bytes through
// forward_outbound.
boost::asio::awaitable<void> serve_target(ProxyContext& ctx, ConnectionSet::Member& member,
                                          boost::asio::ip::tcp::socket app,
                                          boost::asio::ip::tcp::endpoint original, Route route,
                                          std::string early);

// Everything after "we know the target", shared by both entry points: destination lookup,
// fail fast, balancing, mTLS, transport header, metrics, relay. The caller has joined the
// connection set (`member`) and holds `app` in it; `reply` may be null.
boost::asio::awaitable<void> forward_outbound(ProxyContext& ctx, ConnectionSet::Member& member,
                                              boost::asio::ip::tcp::socket app,
                                              boost::asio::ip::tcp::endpoint original,
                                              OutboundReply* reply);

}  // namespace strait::proxy
