// The outbound HTTP request path: what an application connection that spoke HTTP (HTTP/1 or
// HTTP/2, as detection found) gets instead of one byte stream pinned to one endpoint. Each
// request, on its own:
//   choose_endpoint (the Balancer: power of two choices over peak-EWMA x pending; fail fast ->
//   503 or gRPC UNAVAILABLE with strait-proxy-error) -> H2Pool connection to that endpoint's
//   proxy -> marked with its original protocol (HTTP/1 requests) -> sent as an HTTP/2 stream
//   -> its response observed for the golden metrics and the balancer's latency (time to the
//   response head; the endpoint counts as pending until the response's end).
// One OutboundHttp serves one application connection (its target is the connection's original
// destination); its metric handles are per endpoint and authority.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "sidecar/proxy/dial.h"
#include "sidecar/proxy/h2_pool.h"
#include "sidecar/proxy/http/message.h"
#include "sidecar/proxy/http_metrics.h"
#include "sidecar/proxy/proxy_context.h"

namespace strait::proxy {

// HttpLabels from a connection's labels and a request's authority.
HttpLabels http_labels(const ConnLabels& conn, std::string authority);

class OutboundHttp {
 public:
  OutboundHttp(ProxyContext& ctx, H2Pool& pool, HttpMetricFamilies& families, Route route,
               std::string target);
  boost::asio::awaitable<http::Response> handle(http::Request request);

 private:
  std::shared_ptr<RouteMetrics> metrics_for(const Pick& endpoint, const std::string& authority);

  ProxyContext& ctx_;
  H2Pool& pool_;
  HttpMetricFamilies& families_;
  Route route_;
  std::string target_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<RouteMetrics>> metrics_;
};

}  // namespace strait::proxy
