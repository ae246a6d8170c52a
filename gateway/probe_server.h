// ProbeServer: the gateway's admin port (4191) over TLS, so that other clusters' probes reach
// it with mTLS: GET /ready (what link probes ask), /live and /metrics. One request per
// connection, read with Beast's parser under a header limit (431) and a deadline; every answer,
// refusals included, is followed by a short lingering close so the client can read it; each
// connection is counted at most once in proxy_refused_total{direction="admin"}.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/verb.hpp>
#include <string>
#include <string_view>

#include "sidecar/proxy/runtime.h"

namespace strait::gateway {

class ProbeServer {
 public:
  explicit ProbeServer(proxy::Runtime& rt) : rt_(rt) {}
  void serve(boost::asio::ip::tcp::socket s);

  struct Reply {
    unsigned status = 200;
    std::string body;
    std::string content_type;
  };
  // The response to a parsed request.
  Reply answer(boost::beast::http::verb method, std::string_view target);

 private:
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket s);
  proxy::Runtime& rt_;
};

}  // namespace strait::gateway
