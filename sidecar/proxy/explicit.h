// Explicit mode: the outbound entry point for runs without iptables (listen.explicit). The
// application — or `curl --proxytunnel -x http://<listen.explicit>` — opens a TCP connection and
// sends `CONNECT <ip>:<port> HTTP/1.1`; from then on <ip>:<port> is what an intercepted
// connection's original destination would have been (forward_outbound). The 200 is sent only
// once the upstream is open (mTLS and transport header done), so that a refusal of the mesh can
// still be an HTTP answer (503/502) the client shows.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "sidecar/proxy/connect_request.h"
#include "sidecar/proxy/proxy_context.h"

namespace strait::proxy {

// One connection on listen.explicit: reads the CONNECT within timeouts.handshake (else 408,
// connect_request_timeout), refuses bad requests with their status, then forward_outbound.
// Every refusal counts in proxy_refused_total{direction="outbound"} and is logged.
boost::asio::awaitable<void> serve_explicit(ProxyContext& ctx, boost::asio::ip::tcp::socket app);

}  // namespace strait::proxy
