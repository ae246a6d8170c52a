// The outbound HTTP request path (see http_outbound.h).
#include "sidecar/proxy/http_outbound.h"

#include "sidecar/proxy/http/orig_proto.h"
#include "sidecar/proxy/http_answer.h"

namespace strait::proxy {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

HttpLabels http_labels(const ConnLabels& c, std::string authority) {
  HttpLabels l;
  l.direction = c.direction;
  l.authority = std::move(authority);
  l.tls = c.tls;
  l.client_id = c.client_id;
  l.server_id = c.server_id;
  l.dst_namespace = c.dst_namespace;
  l.dst_service = c.dst_service;
  l.dst_cluster = c.dst_cluster;
  l.target_cluster = c.target_cluster;
  l.target_service = c.target_service;
  l.target_service_namespace = c.target_service_namespace;
  return l;
}

OutboundHttp::OutboundHttp(ProxyContext& ctx, H2Pool& pool, HttpMetricFamilies& families,
                           Route route, std::string target)
    : ctx_(ctx),
      pool_(pool),
      families_(families),
      route_(std::move(route)),
      target_(std::move(target)) {}

std::shared_ptr<RouteMetrics> OutboundHttp::metrics_for(const Pick& endpoint,
                                                        const std::string& authority) {
  auto key = std::make_pair(endpoint.key, authority);
  auto it = metrics_.find(key);
  if (it != metrics_.end()) return it->second;
  auto m = std::make_shared<RouteMetrics>(
      families_, http_labels(connection_labels("outbound", route_, &endpoint), authority));
  metrics_.emplace(std::move(key), m);
  return m;
}

asio::awaitable<http::Response> OutboundHttp::handle(http::Request request) {
  auto ex = co_await asio::this_coro::executor;
  const auto start = Clock::now();
  auto chosen = co_await choose_endpoint(ctx_, route_, target_, start + ctx_.config.fail_fast);
  if (!chosen) {
    ctx_.refuse("outbound", chosen.error().code, chosen.error().message);
    if (request.body) request.body->cancel("refused");
    co_return proxy_error(ex, request.head, 503, chosen.error().code);
  }
  auto metrics = metrics_for(*chosen, request.head.authority);
  metrics->request();
  auto fail = [&](const Error& why) {
    log::warn("outbound request failed", {{"target", target_},
                                          {"endpoint", chosen->key},
                                          {"reason", why.code},
                                          {"detail", why.message}});
    if (request.body) request.body->cancel(why.code);
    metrics->response(0, std::nullopt, true, Clock::now() - start);
    return proxy_error(ex, request.head, 502, why.code);
  };

  http::mark_orig_proto(request.head, false);
  const bool replayable = !request.body;  // nothing of it is consumed by a refused attempt
  Result<http::Response> response = Error{"connection_error", "not sent"};
  // The balancer learns the endpoint's latency from the request's send to its response's head:
  // opening a connection is not the endpoint's slowness (the reference measures the same way).
  auto sent = Clock::now();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto client = co_await pool_.get(chosen->key, chosen->addr,
                                     connection_labels("outbound", route_, &*chosen));
    if (!client) co_return fail(client.error());
    sent = Clock::now();
    // A connection the peer closed with GOAWAY before taking this stream: the request never
    // reached the application, so a request without a body is sent again on a new connection.
    http::Request copy{request.head, request.body};
    response = co_await (*client)->send(std::move(copy));
    if (response || response.error().code != "goaway_retryable" || !replayable) break;
  }
  if (!response) co_return fail(response.error());
  chosen->in_flight.observe(Clock::now() - sent);
  auto held = std::make_shared<InFlight>(std::move(chosen->in_flight));
  co_return observe_response(
      ex, std::move(*response), [metrics, held, start](const ResponseEnd& end) mutable {
        metrics->response(end.status, end.grpc_status, end.broken, Clock::now() - start);
        held.reset();
      });
}

}  // namespace strait::proxy
