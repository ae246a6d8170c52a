// TlsStream: TLS over a TCP socket for the data plane, with C++20 coroutines and one thing
// asio::ssl::stream cannot do while a read is pending: a half-close. shutdown_write() sends
// close_notify and FIN at once, and reading goes on until the peer closes its side. It drives
// OpenSSL through memory BIOs, so every byte moves through code we control.
//
// One reader and one writer may run at the same time, on ONE thread (or one strand): OpenSSL
// calls never overlap because they only happen between suspension points.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <tuple>

#include "core/tls/tls_context.h"

namespace strait::tls {

class TlsStream {
 public:
  enum class Role { kClient, kServer };

  // The context must outlive the handshake; the stream keeps a reference to it.
  TlsStream(boost::asio::ip::tcp::socket socket, ContextPtr context, Role role);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  SSL* native_handle() { return ssl_; }
  boost::asio::ip::tcp::socket& socket() { return socket_; }

  boost::asio::awaitable<boost::system::error_code> handshake();
  // Ends with asio::error::eof after the peer's close_notify, asio::ssl::error::stream_truncated
  // when the TCP connection ends without one.
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      boost::asio::mutable_buffer buffer);
  boost::asio::awaitable<boost::system::error_code> write_all(boost::asio::const_buffer buffer);
  // close_notify, then TCP FIN; the read side stays open.
  boost::asio::awaitable<boost::system::error_code> shutdown_write();
  // Closes the socket now (cancels pending operations).
  void close();

 private:
  // Writes whatever OpenSSL produced to the socket; one flusher at a time, the others wait.
  boost::asio::awaitable<boost::system::error_code> flush();
  // Moves ciphertext from the socket into OpenSSL; eof when the TCP stream ended.
  boost::asio::awaitable<boost::system::error_code> fill();
  boost::system::error_code ssl_error(int ret, int ssl_err) const;

  boost::asio::ip::tcp::socket socket_;
  ContextPtr context_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  std::string out_;      // ciphertext taken from wbio_, being written
  bool flushing_ = false;
  boost::asio::steady_timer flush_done_;  // wakes writers waiting for the flusher
  bool tcp_eof_ = false;
};

}  // namespace strait::tls
