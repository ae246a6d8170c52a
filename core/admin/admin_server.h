// AdminServer: the small HTTP/1.1 endpoint of every Strait binary. It serves GET /live,
// GET /ready (a readiness check set by the binary), GET /metrics (the registry's Prometheus text)
// and the routes the binary adds (e.g. POST /shutdown, loopback only).
//
// It is reachable by anything that can reach the pod, so it defends itself: header and body
// limits, read and idle deadlines, a cap on connections and a smaller one per source address,
// and a few connections kept for loopback peers beyond the cap, so that no remote peer can lock
// out a local probe (kubelet on the node, the binary's own checks). Every refusal is logged with
// its reason and counted in admin_requests_refused_total{reason}.
//
// It runs on the caller's io_context (any number of threads). stop() closes the listener and every
// open session; once the io_context has no other work, run() returns: nothing is left detached.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/verb.hpp>

#include "core/base/result.h"
#include "core/metrics/metrics.h"

namespace strait::admin {

struct Request {
  boost::beast::http::verb method;
  std::string path;   // the target up to '?'
  std::string query;  // after '?', possibly empty
  std::string body;
  boost::asio::ip::tcp::endpoint peer;
};

struct Response {
  using Headers = std::vector<std::pair<std::string, std::string>>;
  Response() = default;
  Response(unsigned s, std::string b, std::string type = "text/plain; charset=utf-8",
           Headers h = {})
      : status(s), body(std::move(b)), content_type(std::move(type)), headers(std::move(h)) {}

  unsigned status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  Headers headers;  // extra header fields
};

// Runs on an io_context thread: must not block for long.
using Handler = std::function<Response(const Request&)>;

// Ready is ok(); not ready is an Error whose message says why (shown in the 503 body).
using ReadinessCheck = std::function<Result<void>()>;

struct AdminOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port, see AdminServer::port()
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 64 * 1024;
  std::chrono::milliseconds read_timeout{5'000};    // to receive one whole request
  std::chrono::milliseconds idle_timeout{30'000};   // between requests on a kept-alive connection
  std::chrono::milliseconds write_timeout{10'000};  // to send one response
  std::size_t max_connections = 256;
  std::size_t max_connections_per_source = 16;  // open connections from one IP address
  std::size_t loopback_reserve = 16;            // loopback peers may go this far past the cap
};

class AdminServer {
 public:
  // `registry` must outlive the io_context's use of this server (it is read on /metrics).
  AdminServer(boost::asio::io_context& ioc, metrics::Registry& registry, AdminOptions options = {});
  ~AdminServer();  // stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and starts accepting. Errors (bad address, port in use) name the address.
  Result<void> start();
  // The bound port (the real one when options.port was 0); 0 before start().
  std::uint16_t port() const;

  // Until a check is set, /ready answers 503 "not ready: starting".
  void set_readiness(ReadinessCheck check);

  // Adds or replaces a route. A loopback_only route answers 403 to peers not on loopback.
  void add_handler(boost::beast::http::verb method, std::string path, Handler handler,
                   bool loopback_only = false);

  // Closes the listener and every open connection. Idempotent, callable from any thread,
  // including from a handler.
  void stop();

  std::size_t open_connections() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace strait::admin
