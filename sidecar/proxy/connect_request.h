// The CONNECT request of explicit mode, as bytes: parsing its head (Beast's parser; a target
// must be <ip>:<port>, port in its one wire spelling) and spelling the answers. Pure functions
// of bytes, apart from the listener (explicit.h), so that they can be fuzzed alone.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

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

}  // namespace strait::proxy
