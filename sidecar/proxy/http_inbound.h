// The inbound HTTP request path: requests arriving on an HTTP/2 session from another proxy (or,
// later, from an unmeshed client whose connection detection found HTTP) go to the application on
// the connection's target port, each on its own:
//   the original-protocol marker is taken off (malformed: 400) -> strait-client-id is set to
//   the client's verified SPIFFE id, and any such field the caller sent is removed; the port's
//   policy as it is now admits the request (else 403, inbound_http_authz_deny_total) -> HTTP/1
//   requests go out as HTTP/1 again on a small pool of keep-alive connections to the
//   application, HTTP/2 ones on one HTTP/2 connection to it (gRPC) -> the response is observed
//   for the golden metrics (direction inbound, client_id).
// One InboundHttp serves one accepted connection, already authorized by the port's policy.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/identity/spiffe_id.h"
#include "sidecar/proxy/http/h1_session.h"
#include "sidecar/proxy/http/h2_session.h"
#include "sidecar/proxy/http/message.h"
#include "sidecar/proxy/http_metrics.h"
#include "sidecar/proxy/proxy_context.h"

namespace strait::proxy {

inline constexpr std::string_view kClientIdField = "strait-client-id";

// The application's address for a target port (inbound.forwardAddress, 127.0.0.1 by default).
boost::asio::ip::tcp::endpoint app_endpoint(const ProxyContext& ctx, std::uint16_t port);
// TCP to the application within the inbound connect timeout. Errors: connect_timeout,
// connect_refused.
boost::asio::awaitable<Result<boost::asio::ip::tcp::socket>> connect_app(
    ProxyContext& ctx, const boost::asio::ip::tcp::endpoint& app);

class InboundHttp {
 public:
  InboundHttp(ProxyContext& ctx, HttpMetricFamilies& families, std::uint16_t port,
              std::optional<identity::SpiffeId> client, std::string source_ip, ConnLabels labels);
  ~InboundHttp();
  boost::asio::awaitable<http::Response> handle(http::Request request);

 private:
  boost::asio::awaitable<Result<http::Response>> send_h1(http::Request request);
  boost::asio::awaitable<Result<http::Response>> send_h2(http::Request request);
  std::shared_ptr<RouteMetrics> metrics_for(const std::string& authority);
  // The port's policy as it is now, for this request (a policy changed since the connection
  // was admitted applies to its next request): empty when allowed, else the refusal.
  std::optional<http::Response> authorize_request(const http::RequestHead& head);

  ProxyContext& ctx_;
  HttpMetricFamilies& families_;
  boost::asio::ip::tcp::endpoint app_;
  std::uint16_t port_;
  std::optional<identity::SpiffeId> client_;
  std::string source_ip_;
  ConnLabels labels_;
  // Handles of inbound_http_authz_{allow,deny}_total by (server, authorization or reason).
  std::map<std::pair<std::string, std::string>, metrics::Counter> allowed_, denied_;
  http::H1Pool h1_;  // keep-alive connections to the application
  std::shared_ptr<http::H2Client> h2_;
  std::map<std::string, std::shared_ptr<RouteMetrics>> metrics_;
};

}  // namespace strait::proxy
