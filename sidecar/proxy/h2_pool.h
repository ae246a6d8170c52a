// H2Pool: this proxy's HTTP/2 connections to other proxies, by endpoint. Requests to one
// endpoint share a connection (mTLS, transport header with session protocol HTTP/2) up to the
// peer's concurrent-stream limit; another is opened when it is full or no longer usable (GOAWAY,
// closed, broken). Opening is single-flight: requests arriving while a connection to that
// endpoint is being opened wait for it instead of opening their own. Each connection counts in
// the tcp_* metrics like an opaque one and belongs to the connection set (cut at the end of a
// drain); drain() sends every connection GOAWAY. Lives on the proxy's one I/O thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "sidecar/proxy/http/h2_session.h"
#include "sidecar/proxy/proxy_context.h"
#include "strait/destination.pb.h"

namespace strait::proxy {

class H2Pool {
 public:
  H2Pool(ProxyContext& ctx, http::H2Limits limits) : ctx_(ctx), limits_(limits) {}
  H2Pool(const H2Pool&) = delete;
  H2Pool& operator=(const H2Pool&) = delete;

  // A connection to the endpoint `key` ("ip:port") at `addr` with a free stream, opened if
  // needed (connect_upstream's errors, or h2_connect_failed). `labels`: the tcp_* labels of a
  // connection opened for this call. Connections are shared by endpoint *and* the name the
  // transport header carries (a gateway's address serves many mirrors: it routes a session by
  // that name, so requests for two services must never share one).
  boost::asio::awaitable<Result<std::shared_ptr<http::H2Client>>> get(
      const std::string& endpoint, const destination::v1::WeightedAddr& addr,
      const ConnLabels& labels);

  // Drain: GOAWAY on every connection; they are let go as their streams finish.
  void drain();
  // New requests go on new connections (after a trust change); the old ones finish and close.
  void recycle();
  std::size_t connections() const;

 private:
  struct Conn {
    std::shared_ptr<http::H2Client> client;
    std::unique_ptr<ConnectionMetrics> metrics;
    std::unique_ptr<ConnectionSet::Member> member;
  };
  struct Entry {
    std::vector<Conn> conns;
    bool connecting = false;
    std::unique_ptr<boost::asio::steady_timer> opened;  // wakes the waiters of a connect
  };
  // Drops connections that can carry nothing more and have nothing in flight.
  void prune(Entry& e);
  std::shared_ptr<http::H2Client> free_connection(Entry& e);

  ProxyContext& ctx_;
  http::H2Limits limits_;
  std::map<std::string, Entry> entries_;  // by "<ip:port> <transport header name>"
};

}  // namespace strait::proxy
