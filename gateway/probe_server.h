// ProbeServer: the gateway's admin port (4191) over TLS, so that other clusters' probes reach
// it with mTLS: GET /ready (what link probes ask), /live and /metrics. One request per
// connection, with a size limit and a deadline.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "sidecar/proxy/runtime.h"

namespace strait::gateway {

class ProbeServer {
 public:
  explicit ProbeServer(proxy::Runtime& rt) : rt_(rt) {}
  void serve(boost::asio::ip::tcp::socket s);

  // The response to a request line such as "GET /ready HTTP/1.1" (pure, for tests).
  struct Reply {
    unsigned status;
    std::string body;
    std::string content_type;
  };
  Reply answer(const std::string& request_line);

 private:
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket s);
  proxy::Runtime& rt_;
};

}  // namespace strait::gateway
