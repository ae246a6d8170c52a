// HTTP/2 sessions of the proxy on nghttp2: H2Server serves one inbound connection (requests to
// a Handler), H2Client carries requests over one outbound connection. Both speak over an
// AnyStream (plain TCP or TLS, already connected), run on one executor, and share H2Limits.
//
// Flow control follows the message model's BodyPipe: a received body gives window back to the
// peer only as its consumer reads it (BodyPipe::on_consumed), so a slow consumer stops the peer
// after one window; a sent body is pulled from its pipe as the peer's window allows.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/base/result.h"
#include "sidecar/proxy/http/message.h"

namespace strait::proxy {
class AnyStream;
}

namespace strait::proxy::http {

namespace h2 {
class Core;
class ClientCore;
}  // namespace h2

struct H2Limits {
  // SETTINGS_MAX_CONCURRENT_STREAMS we advertise (server; nghttp2 refuses the extras with
  // REFUSED_STREAM, or ends the connection when the client ignored an acknowledged limit).
  std::uint32_t max_concurrent_streams = 100;
  // SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 size: name + value + 32 per field). Enforced on
  // what we receive: a request over it is answered 431 (counted as "headers_too_large"), a
  // response over it resets the stream.
  std::uint32_t max_header_list_bytes = 16 * 1024;
  // SETTINGS_HEADER_TABLE_SIZE we advertise, and the cap of our own HPACK encoder's table.
  std::uint32_t header_table_bytes = 4096;
  // Receive windows: per stream (SETTINGS_INITIAL_WINDOW_SIZE; also each body pipe's window)
  // and for the whole connection.
  std::uint32_t initial_stream_window = 64 * 1024;
  std::uint32_t connection_window = 1024 * 1024;
  // Rapid-reset cap (CVE-2023-44487): more than this many RST_STREAM from the client within
  // reset_window -> GOAWAY ENHANCE_YOUR_CALM, refusal "too_many_resets". A busy gRPC client
  // cancels a few streams a second; 200 in 10 s is far above that and far below an attack.
  std::uint32_t max_resets_per_window = 200;
  std::chrono::milliseconds reset_window{10'000};
  // No open stream and no frame either way for this long -> GOAWAY NO_ERROR, close.
  std::chrono::milliseconds idle_timeout{300'000};
  // The peer's preface (its first SETTINGS) must arrive within this.
  std::chrono::milliseconds handshake_timeout{10'000};
  // Graceful drain: open streams get this long to finish after GOAWAY, then the connection
  // is closed anyway.
  std::chrono::milliseconds drain_timeout{30'000};
  // After we decided to close (GOAWAY queued), how long flushing it may take.
  std::chrono::milliseconds close_grace{1'000};
};

// Serves one HTTP/2 connection. Every request whose HEADERS arrived is handed to the handler in
// a coroutine of its own; its response (HEADERS, DATA, trailers) is streamed back from the
// response's BodyPipe. A client reset aborts the request body ("reset") and cancels the
// response body. Protocol errors end the connection with nghttp2's GOAWAY and are reported to
// the sink as "h2_protocol_error"; a handler that throws is answered 502.
class H2Server {
 public:
  H2Server(boost::asio::any_io_executor ex, H2Limits limits, Handler handler, RefusalSink sink);
  ~H2Server();
  H2Server(const H2Server&) = delete;
  H2Server& operator=(const H2Server&) = delete;

  // Runs the connection until it ends (the stream is closed then). `prefix`: bytes protocol
  // detection already read from the stream (the client preface's start); they are fed first.
  // Call once.
  boost::asio::awaitable<void> run(AnyStream& stream, std::string prefix);
  // Graceful drain: GOAWAY (a shutdown notice, then the final one with the last stream id),
  // the open streams finish, then the connection closes. Before run(): run() drains at once.
  void drain();
  std::size_t active_streams() const;

  // The one-call form: a server of its own, run to the end of the connection.
  static boost::asio::awaitable<void> serve(AnyStream& stream, std::string prefix, H2Limits limits,
                                            Handler handler, RefusalSink sink);

 private:
  std::shared_ptr<h2::Core> core_;
};

// One HTTP/2 client connection over an already connected stream (the caller did TCP and TLS).
// Errors of send(): "connection_error" (the connection failed or closed), "goaway_retryable"
// (GOAWAY: the server did not process the request; safe to retry elsewhere), "stream_refused"
// (REFUSED_STREAM: not processed either, retryable), "stream_reset" (reset before the
// response's HEADERS), "headers_too_large" (response head over max_header_list_bytes),
// "submit_failed" (nghttp2 refused the request).
class H2Client : public std::enable_shared_from_this<H2Client> {
 public:
  static std::shared_ptr<H2Client> start(boost::asio::any_io_executor ex,
                                         std::unique_ptr<AnyStream> stream, H2Limits limits,
                                         RefusalSink sink);
  ~H2Client();  // drains: the connection closes once its streams are done
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  // Sends the request (its body streamed from its BodyPipe, trailers too) and waits for the
  // response's final HEADERS (1xx are skipped). The response body is fed by DATA and ends with
  // the trailers; a reset after the head aborts it ("reset"). Cancelling it resets the stream
  // (CANCEL). Waits for a free slot under the server's SETTINGS_MAX_CONCURRENT_STREAMS; every
  // wait ends at the latest with the connection.
  boost::asio::awaitable<Result<Response>> send(Request request);
  // Not closed, no GOAWAY received, not draining: new requests may go here.
  bool usable() const;
  std::size_t active_streams() const;
  // Closes now: every stream fails ("connection_error").
  void close();
  // GOAWAY, then close once the open streams are done; usable() turns false.
  void drain();

 private:
  explicit H2Client(std::shared_ptr<h2::ClientCore> core) : core_(std::move(core)) {}
  std::shared_ptr<h2::ClientCore> core_;
};

}  // namespace strait::proxy::http
