// Small socket helpers for the proxy's layers: the original destination of a redirected
// connection, deadlines on awaitables, reading exactly n bytes.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

namespace strait::proxy {

inline constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

// SO_ORIGINAL_DST (set by the iptables REDIRECT of strait-init); nullopt when not redirected.
std::optional<boost::asio::ip::tcp::endpoint> original_dst(boost::asio::ip::tcp::socket& s);

std::string to_string(const boost::asio::ip::tcp::endpoint& e);  // "ip:port", "[v6]:port"

inline boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(kTuple);
}

// Reads exactly buffer.size() bytes from a PlainStream or TlsStream.
template <typename Stream>
boost::asio::awaitable<boost::system::error_code> read_exactly(Stream& s,
                                                               boost::asio::mutable_buffer b) {
  auto* p = static_cast<char*>(b.data());
  std::size_t left = b.size();
  while (left > 0) {
    auto [ec, n] = co_await s.read_some(boost::asio::buffer(p, left));
    if (ec) co_return ec;
    p += n;
    left -= n;
  }
  co_return boost::system::error_code{};
}

}  // namespace strait::proxy
