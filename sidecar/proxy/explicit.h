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

#include "sidecar/proxy/proxy_context.h"

namespace strait::proxy {

// The request line and headers of a CONNECT may take this many bytes.
inline constexpr std::size_t kMaxConnectHeadBytes = 8 * 1024;

struct ConnectRequest {
  boost::asio::ip::tcp::endpoint target;
  std::size_t head_size = 0;  // bytes of the request head (anything after it is early data)
};

// Why a request is refused: the HTTP status to answer, proxy_refused_total's reason, a detail.
struct ConnectRefusal {
  int status = 400;
  std::string reason;
  std::string detail;
};

// The head of an HTTP/1.x CONNECT request at the start of `bytes` (Boost.Beast's parser,
// headers limited to `max_head_bytes`): monostate while incomplete. Refusals:
//   400 bad_connect_request   not HTTP/1.x, or a target that is not ip:port (names included)
//   405 not_connect           another method (GET, ...)
//   431 connect_headers_too_large
using ConnectParse = std::variant<std::monostate, ConnectRequest, ConnectRefusal>;
ConnectParse parse_connect(std::string_view bytes, std::size_t max_head_bytes);

// "HTTP/1.1 <status> <phrase>", a plain-text one-line body "<reason>: <detail>\n", and
// Connection: close. Status 200: "HTTP/1.1 200 Connection established" and no headers.
std::string connect_response(int status, const std::string& reason = "",
                             const std::string& detail = "");

// One connection on listen.explicit: reads the CONNECT within timeouts.handshake (else 408,
// connect_request_timeout), refuses bad requests with their status, then forward_outbound.
// Every refusal counts in proxy_refused_total{direction="outbound"} and is logged.
boost::asio::awaitable<void> serve_explicit(ProxyContext& ctx, boost::asio::ip::tcp::socket app);

}  // namespace strait::proxy
