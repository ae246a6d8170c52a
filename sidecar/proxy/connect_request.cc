// The CONNECT request: parsing and answers.
#include "sidecar/proxy/connect_request.h"

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>

#include "core/base/result.h"
#include "core/net/address.h"

namespace strait::proxy {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace {

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return s;
}

// "ip:port" or "[v6]:port", port 1..65535.
Result<tcp::endpoint> parse_target(std::string_view t) {
  const std::string shown(t);
  auto refuse = [&](const std::string& why) { return make_error("bad_connect_request", why); };
  std::string_view host, port;
  if (!t.empty() && t.front() == '[') {
    auto close = t.find("]:");
    if (close == std::string_view::npos)
      return refuse("target \"" + shown + "\" is not [ipv6]:port");
    host = t.substr(1, close - 1);
    port = t.substr(close + 2);
  } else {
    auto colon = t.rfind(':');
    if (colon == std::string_view::npos || t.find(':') != colon) {
      return refuse("target \"" + shown + "\" is not ip:port");
    }
    host = t.substr(0, colon);
    port = t.substr(colon + 1);
  }
  auto p = net::parse_wire_port(port);
  if (!p) {
    return refuse("target \"" + shown +
                  "\" has no valid port (1..65535 in digits, without leading zeros)");
  }
  boost::system::error_code aec;
  auto ip = asio::ip::make_address(std::string(host), aec);
  if (aec) {
    return refuse("target \"" + shown +
                  "\": only ip:port targets (service virtual IPs) are supported, not names");
  }
  if (ip.is_unspecified() || ip.is_multicast()) {
    return refuse("target \"" + shown + "\" is not a unicast address");
  }
  return tcp::endpoint(ip, *p);
}

}  // namespace

ConnectParse parse_connect(std::string_view bytes, std::size_t max_head_bytes) {
  if (bytes.empty()) return std::monostate{};
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(max_head_bytes));
  parser.eager(false);
  boost::system::error_code ec;
  std::size_t used = parser.put(asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec == http::error::need_more) {
    if (bytes.size() > max_head_bytes) {  // Beast reports this itself; kept for certainty
      return ConnectRefusal{431, "connect_headers_too_large",
                            "request headers exceed " + std::to_string(max_head_bytes) + " bytes"};
    }
    return std::monostate{};
  }
  if (ec == http::error::header_limit) {
    return ConnectRefusal{431, "connect_headers_too_large",
                          "request headers exceed " + std::to_string(max_head_bytes) + " bytes"};
  }
  if (ec) {
    return ConnectRefusal{
        400, "bad_connect_request",
        "not an HTTP/1.x request (" + ec.message() + "); send CONNECT <ip>:<port> HTTP/1.1"};
  }
  if (!parser.is_header_done()) return std::monostate{};
  if (used > max_head_bytes) {  // Beast's own accounting leaves a little slack
    return ConnectRefusal{431, "connect_headers_too_large",
                          "request headers exceed " + std::to_string(max_head_bytes) + " bytes"};
  }
  const auto& req = parser.get();
  if (req.method() != http::verb::connect) {
    return ConnectRefusal{405, "not_connect",
                          "method " + std::string(req.method_string()) +
                              " is not supported: this port takes CONNECT <ip>:<port>"};
  }
  auto target = parse_target(req.target());
  if (!target) return ConnectRefusal{400, target.error().code, one_line(target.error().message)};
  return ConnectRequest{*target, used};
}

std::string connect_response(int status, const std::string& reason, const std::string& detail) {
  if (status == 200) return "HTTP/1.1 200 Connection established\r\n\r\n";
  std::string body = one_line(reason + (detail.empty() ? "" : ": " + detail)) + "\n";
  std::string phrase(http::obsolete_reason(static_cast<http::status>(status)));
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + phrase + "\r\n";
  if (status == 405) out += "Allow: CONNECT\r\n";
  out += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n";
  if (!reason.empty()) out += "Strait-Refused: " + one_line(reason) + "\r\n";
  return out + "\r\n" + body;
}

}  // namespace strait::proxy
