// TlsStream: OpenSSL with memory BIOs under Asio coroutines.
#include "core/tls/tls_stream.h"

#include <openssl/err.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace strait::tls {
namespace asio = boost::asio;
using boost::system::error_code;
namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRecord = std::size_t{16} * 1024;
}  // namespace

TlsStream::TlsStream(asio::ip::tcp::socket socket, ContextPtr context, Role role)
    : socket_(std::move(socket)),
      context_(std::move(context)),
      flush_done_(socket_.get_executor()) {
  flush_done_.expires_at(asio::steady_timer::time_point::max());
  ssl_ = SSL_new(context_->native_handle());
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio_, -1);  // an empty read BIO means "want more", not EOF
  SSL_set_bio(ssl_, rbio_, wbio_);
  if (role == Role::kClient) {
    SSL_set_connect_state(ssl_);
  } else {
    SSL_set_accept_state(ssl_);
  }
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

void TlsStream::close() {
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

error_code TlsStream::ssl_error(int ret, int ssl_err) const {
  if (ssl_err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && ret == 0) {
    return asio::ssl::error::stream_truncated;
  }
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return asio::error::connection_reset;
  return error_code(static_cast<int>(e), asio::error::get_ssl_category());
}

asio::awaitable<error_code> TlsStream::flush() {
  while (flushing_) {  // someone else is writing: wait for them, then check again
    co_await flush_done_.async_wait(kTuple);  // never expires; the flusher cancels it
  }
  flushing_ = true;
  error_code ec;
  std::array<char, kRecord + 512> chunk;
  while (!ec) {
    if (out_.empty()) {
      int n = BIO_read(wbio_, chunk.data(), static_cast<int>(chunk.size()));
      if (n <= 0) break;
      out_.assign(chunk.data(), static_cast<std::size_t>(n));
    }
    auto [wec, written] = co_await asio::async_write(socket_, asio::buffer(out_), kTuple);
    ec = wec;
    out_.clear();
  }
  flushing_ = false;
  flush_done_.cancel();
  co_return ec;
}

asio::awaitable<error_code> TlsStream::fill() {
  std::array<char, kRecord + 512> chunk;
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk), kTuple);
  if (ec == asio::error::eof) tcp_eof_ = true;
  if (ec) co_return ec;
  BIO_write(rbio_, chunk.data(), static_cast<int>(n));
  co_return error_code{};
}

asio::awaitable<error_code> TlsStream::handshake() {
  while (true) {
    ERR_clear_error();
    int ret = SSL_do_handshake(ssl_);
    int err = SSL_get_error(ssl_, ret);
    if (auto ec = co_await flush(); ec) co_return ec;
    if (ret == 1) co_return error_code{};
    if (err != SSL_ERROR_WANT_READ) co_return ssl_error(ret, err);
    if (auto ec = co_await fill(); ec) {
      co_return ec == asio::error::eof ? error_code(asio::ssl::error::stream_truncated) : ec;
    }
  }
}

asio::awaitable<std::tuple<error_code, std::size_t>> TlsStream::read_some(
    asio::mutable_buffer buffer) {
  if (buffer.size() == 0) co_return std::tuple{error_code{}, std::size_t{0}};
  while (true) {
    ERR_clear_error();
    int ret = SSL_read(ssl_, buffer.data(), static_cast<int>(std::min(buffer.size(), kRecord * 4)));
    if (ret > 0) co_return std::tuple{error_code{}, static_cast<std::size_t>(ret)};
    int err = SSL_get_error(ssl_, ret);
    if (err == SSL_ERROR_ZERO_RETURN) co_return std::tuple{error_code(asio::error::eof), 0};
    if (err != SSL_ERROR_WANT_READ) co_return std::tuple{ssl_error(ret, err), 0};
    // Reading can produce output (a key update answer): send it before waiting.
    if (BIO_ctrl_pending(wbio_) > 0) {
      if (auto ec = co_await flush(); ec) co_return std::tuple{ec, 0};
    }
    if (tcp_eof_) co_return std::tuple{error_code(asio::ssl::error::stream_truncated), 0};
    if (auto ec = co_await fill(); ec) {
      if (ec == asio::error::eof) continue;  // let OpenSSL see what it has, then report
      co_return std::tuple{ec, 0};
    }
  }
}

asio::awaitable<error_code> TlsStream::write_all(asio::const_buffer buffer) {
  const char* p = static_cast<const char*>(buffer.data());
  std::size_t left = buffer.size();
  while (left > 0) {
    std::size_t n = std::min(left, kRecord);
    ERR_clear_error();
    int ret = SSL_write(ssl_, p, static_cast<int>(n));
    if (ret <= 0) co_return ssl_error(ret, SSL_get_error(ssl_, ret));
    p += ret;
    left -= static_cast<std::size_t>(ret);
    if (auto ec = co_await flush(); ec) co_return ec;
  }
  co_return error_code{};
}

asio::awaitable<error_code> TlsStream::shutdown_write() {
  ERR_clear_error();
  SSL_shutdown(ssl_);  // queues close_notify; returns 0 until the peer's arrives, which is fine
  if (auto ec = co_await flush(); ec) co_return ec;
  error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  co_return ec;
}

}  // namespace strait::tls
