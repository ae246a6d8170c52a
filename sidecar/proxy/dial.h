// Dial: the one way traffic leaves this proxy for a mesh target, shared by the outbound proxy
// (intercepted and explicit connections) and the gateway:
//
//   resolve_route   the target through the destination cache (first answer within the deadline)
//   choose_endpoint a ready endpoint within the fail-fast deadline, as the balancer picks it
//   connect_upstream TCP within the connect timeout; for a meshed endpoint mTLS that must prove
//                   its identity, then the transport header
//
// Each step's errors are refusal reasons (proxy_refused_total) or tcp_close_total error labels.
// A Pick is a copy of the endpoint: a destination update while a dial is suspended frees
// nothing the dial still reads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "core/base/result.h"
#include "sidecar/proxy/destination_cache.h"
#include "sidecar/proxy/proxy_context.h"
#include "sidecar/proxy/stream.h"
#include "sidecar/proxy/transport_header.h"

namespace strait::proxy {

// What a target resolves to: the destination stream (held open), whether the mesh knows it.
struct Route {
  DestinationCache::Lease lease;
  bool meshed = false;  // a service (or one endpoint) the controller knows
};

// Errors: destination_unavailable (no answer in time), undeclared_port (the service exists
// without that port: nothing will ever serve it, refused at once).
boost::asio::awaitable<Result<Route>> resolve_route(ProxyContext& ctx, std::string target,
                                                    std::chrono::steady_clock::time_point deadline);

// Waits for a ready endpoint until `deadline`, then lets the balancer choose.
// Errors: no_ready_endpoints (failed fast), queue_full (too many callers waiting already for
// this target: refused at once).
boost::asio::awaitable<Result<Pick>> choose_endpoint(
    ProxyContext& ctx, const Route& route, const std::string& target,
    std::chrono::steady_clock::time_point deadline);

// The metric labels of a connection to `route` (dst_*) through `endpoint` (server_id, the
// gateway mirror's target_*), or to an unmeshed destination (endpoint null).
ConnLabels connection_labels(std::string direction, const Route& route, const Pick* endpoint);

// Opens the upstream side for an endpoint: TCP within the connect timeout, then, when the
// endpoint has an identity and a proxy port, mTLS that must prove exactly that identity, and
// the transport header. `addr` is taken by value: the caller's copy may go while this waits.
// Error codes are tcp_close_total's error labels (connect_timeout, connect_refused,
// connect_error, tls_handshake_timeout, tls_handshake_failed, identity_mismatch, no_identity,
// bad_endpoint).
boost::asio::awaitable<Result<std::unique_ptr<AnyStream>>> connect_upstream(
    ProxyContext& ctx, destination::v1::WeightedAddr addr, TransportHeader header);

}  // namespace strait::proxy
