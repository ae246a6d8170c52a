// Relay: moves bytes both ways between two streams until both directions end, passing on
// half-closes (EOF on one side becomes a write-shutdown on the other). Any error, or no byte in
// either direction for the idle timeout, closes both. Works for any stream of stream.h.
#pragma once

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>

#include "core/metrics/metrics.h"
#include "sidecar/proxy/stream.h"

namespace strait::proxy {

struct RelayResult {
  std::uint64_t client_to_server = 0;
  std::uint64_t server_to_client = 0;
  std::string error;  // "" when both directions ended cleanly; else "idle_timeout", "reset", ...
};

struct RelayCounters {
  metrics::Counter read;   // bytes from the client side
  metrics::Counter write;  // bytes to the client side
};

namespace detail {

inline std::string error_name(const boost::system::error_code& ec) {
  namespace e = boost::asio::error;
  if (ec == e::connection_reset) return "connection_reset";
  if (ec == e::broken_pipe) return "broken_pipe";
  if (ec == e::operation_aborted) return "aborted";
  if (ec == e::timed_out) return "timed_out";
  return "io_error";
}

template <typename From, typename To>
boost::asio::awaitable<void> transfer(From& from, To& to, std::uint64_t& total,
                                      metrics::Counter counter,
                                      std::chrono::steady_clock::time_point& last_activity,
                                      std::string& error, bool& failed) {
  std::array<char, 16 * 1024> buf;
  while (true) {
    auto [ec, n] = co_await from.read_some(boost::asio::buffer(buf));
    if (n > 0) {
      last_activity = std::chrono::steady_clock::now();
      if (auto wec = co_await to.write_all(boost::asio::buffer(buf.data(), n)); wec) {
        if (!failed) error = error_name(wec);
        break;
      }
      total += n;
      counter.inc(n);
    }
    if (ec == boost::asio::error::eof) {
      co_await to.shutdown_write();
      co_return;
    }
    if (ec) {
      if (!failed) error = error_name(ec);
      break;
    }
  }
  failed = true;
  from.close();  // wakes the other direction
  to.close();
}

}  // namespace detail

template <typename Client, typename Server>
boost::asio::awaitable<RelayResult> relay(Client& client, Server& server, RelayCounters counters,
                                          std::chrono::milliseconds idle_timeout) {
  using namespace boost::asio::experimental::awaitable_operators;
  RelayResult r;
  bool failed = false;
  auto last = std::chrono::steady_clock::now();
  auto watchdog = [&]() -> boost::asio::awaitable<void> {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
    while (true) {
      t.expires_at(last + idle_timeout);
      co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (std::chrono::steady_clock::now() - last >= idle_timeout) co_return;
    }
  };
  auto both = [&]() -> boost::asio::awaitable<void> {
    co_await (detail::transfer(client, server, r.client_to_server, counters.read, last, r.error,
                               failed) &&
              detail::transfer(server, client, r.server_to_client, counters.write, last, r.error,
                               failed));
  };
  auto v = co_await (both() || watchdog());
  if (v.index() == 1) {
    r.error = "idle_timeout";
    client.close();
    server.close();
  }
  co_return r;
}

}  // namespace strait::proxy
