// TestHttpsServer: a tiny HTTPS endpoint standing in for the gateway's probe port (strait-gateway
// 4191): TLS 1.3 from core/tls with an optional client certificate, answers every request with a
// fixed status. Runs on its own thread; stop() and start() again on the same port.
#pragma once

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/tls/tls_context.h"
#include "core/tls/tls_stream.h"

namespace strait::link::testing {

class TestHttpsServer {
 public:
  TestHttpsServer(tls::Credentials credentials, tls::TrustBundle client_roots, int status = 200)
      : credentials_(std::move(credentials)), roots_(std::move(client_roots)), status_(status) {}
  ~TestHttpsServer() { stop(); }

  // Binds 127.0.0.1:port (0: any), reusing the address so a restart gets the same port.
  Result<void> start(std::uint16_t port = 0) {
    namespace asio = boost::asio;
    auto ctx = tls::make_server_context(credentials_, roots_, tls::ClientAuth::kOptional);
    if (!ctx) return ctx.error();
    io_ = std::make_unique<asio::io_context>();
    acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(*io_);
    boost::system::error_code ec;
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(64, ec);
    if (ec) {
      acceptor_.reset();
      io_.reset();
      return make_error("bind_failed", "127.0.0.1:" + std::to_string(port) + ": " + ec.message());
    }
    port_ = acceptor_->local_endpoint().port();
    asio::co_spawn(*io_, accept_loop(*ctx), asio::detached);
    thread_ = std::thread([io = io_.get()] { io->run(); });
    return {};
  }

  void stop() {
    if (!io_ || !thread_.joinable()) return;
    boost::asio::post(*io_, [this] {
      boost::system::error_code ec;
      acceptor_->close(ec);
      io_->stop();
    });
    thread_.join();
    acceptor_.reset();
    io_.reset();
  }

  std::uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }
  std::string last_client_identity() const {
    std::lock_guard lock(mu_);
    return last_client_;
  }

 private:
  boost::asio::awaitable<void> accept_loop(tls::ContextPtr ctx) {
    namespace asio = boost::asio;
    while (true) {
      auto [ec, socket] = co_await acceptor_->async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(acceptor_->get_executor(), session(std::move(socket), ctx), asio::detached);
    }
  }

  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket, tls::ContextPtr ctx) {
    namespace asio = boost::asio;
    boost::system::error_code nodelay_ec;  // as the gateway's probe port does
    socket.set_option(asio::ip::tcp::no_delay(true), nodelay_ec);
    tls::TlsStream stream(std::move(socket), ctx, tls::TlsStream::Role::kServer);
    if (auto ec = co_await stream.handshake(); ec) co_return;
    if (auto id = tls::peer_identity(stream.native_handle())) {
      std::lock_guard lock(mu_);
      last_client_ = id->to_string();
    }
    std::string in;
    char buf[1024];
    while (in.find("\r\n\r\n") == std::string::npos && in.size() < 8192) {
      auto [ec, n] = co_await stream.read_some(asio::buffer(buf));
      in.append(buf, n);
      if (ec) co_return;
    }
    ++requests_;
    const std::string body = status_ == 200 ? "ready\n" : "not ready\n";
    const std::string out = "HTTP/1.1 " + std::to_string(status_) +
                            (status_ == 200 ? " OK" : " Unavailable") +
                            "\r\nContent-Length: " + std::to_string(body.size()) +
                            "\r\nConnection: close\r\n\r\n" + body;
    co_await stream.write_all(asio::buffer(out));
    co_await stream.shutdown_write();
    stream.close();
  }

  tls::Credentials credentials_;
  tls::TrustBundle roots_;
  int status_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::string last_client_;
};

}  // namespace strait::link::testing
