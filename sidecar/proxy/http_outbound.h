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
//
// The gateway uses the same path for the HTTP/2 sessions client proxies send it (Options):
// requests keep the client's original-protocol marker, get the gateway's Forwarded element,
// may only go to this cluster's own workloads (a mirror would be a loop: 502 loop), and are
// counted with direction "gateway", the client's identity and the target_* labels.
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
  struct Options {
    std::string direction = "outbound";
    bool keep_orig_proto = false;  // the gateway: the client proxy marked the request already
    std::string forwarded;         // a Forwarded element to append ("" none)
    bool local_only = false;       // only this cluster's workloads, never a mirror
    std::string local_cluster;     // (local_only) the cluster's name, "" unknown
    std::string client_id;         // metric label (the gateway: the client proxy's identity)
    std::string target_cluster, target_service, target_service_namespace;  // metric labels
  };
  OutboundHttp(ProxyContext& ctx, H2Pool& pool, HttpMetricFamilies& families, Route route,
               std::string target, Options options);
  OutboundHttp(ProxyContext& ctx, H2Pool& pool, HttpMetricFamilies& families, Route route,
               std::string target)
      : OutboundHttp(ctx, pool, families, std::move(route), std::move(target), Options{}) {}
  boost::asio::awaitable<http::Response> handle(http::Request request);

 private:
  std::shared_ptr<RouteMetrics> metrics_for(const Pick& endpoint, const std::string& authority);

  ProxyContext& ctx_;
  H2Pool& pool_;
  HttpMetricFamilies& families_;
  Route route_;
  std::string target_;
  Options options_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<RouteMetrics>> metrics_;
};

}  // namespace strait::proxy
