// Streams of the data plane, all with one coroutine interface (read_some, write_all,
// shutdown_write, close): PlainStream over a TCP socket, tls::TlsStream, and AnyStream, which
// is either, so that layers that may or may not speak TLS share one code path.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <variant>

#include "core/tls/tls_stream.h"

namespace strait::proxy {

// A TCP socket with TlsStream's coroutine interface.
class PlainStream {
 public:
  explicit PlainStream(boost::asio::ip::tcp::socket s) : socket_(std::move(s)) {}
  boost::asio::ip::tcp::socket& socket() { return socket_; }

  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      boost::asio::mutable_buffer b) {
    co_return co_await socket_.async_read_some(b,
                                               boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  boost::asio::awaitable<boost::system::error_code> write_all(boost::asio::const_buffer b) {
    auto [ec, n] = co_await boost::asio::async_write(
        socket_, b, boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return ec;
  }
  boost::asio::awaitable<boost::system::error_code> shutdown_write() {
    boost::system::error_code ec;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
    co_return ec;
  }
  void close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

 private:
  boost::asio::ip::tcp::socket socket_;
};

class AnyStream {
 public:
  explicit AnyStream(std::unique_ptr<PlainStream> s) : s_(std::move(s)) {}
  explicit AnyStream(std::unique_ptr<tls::TlsStream> s) : s_(std::move(s)) {}

  bool is_tls() const { return s_.index() == 1; }
  tls::TlsStream* tls() { return is_tls() ? std::get<1>(s_).get() : nullptr; }
  boost::asio::ip::tcp::socket& socket() {
    return std::visit([](auto& p) -> boost::asio::ip::tcp::socket& { return p->socket(); }, s_);
  }

  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      boost::asio::mutable_buffer b) {
    return std::visit([b](auto& p) { return p->read_some(b); }, s_);
  }
  boost::asio::awaitable<boost::system::error_code> write_all(boost::asio::const_buffer b) {
    return std::visit([b](auto& p) { return p->write_all(b); }, s_);
  }
  boost::asio::awaitable<boost::system::error_code> shutdown_write() {
    return std::visit([](auto& p) { return p->shutdown_write(); }, s_);
  }
  void close() {
    std::visit([](auto& p) { p->close(); }, s_);
  }

 private:
  std::variant<std::unique_ptr<PlainStream>, std::unique_ptr<tls::TlsStream>> s_;
};

}  // namespace strait::proxy
