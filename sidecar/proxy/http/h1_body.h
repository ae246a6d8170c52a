// Internals of the HTTP/1 sessions (h1_server.cc, h1_client.cc): stream reads and writes under
// a deadline, the two ends of a BodyPipe as a session drives them (a consumer and a producer
// that another coroutine can stop), the conversions between Http1Head and the message model,
// and the body encoder. Not part of the public API.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/result.h"
#include "sidecar/proxy/http/chunked.h"
#include "sidecar/proxy/http/http1_head.h"
#include "sidecar/proxy/http/message.h"
#include "sidecar/proxy/stream.h"

namespace strait::proxy::http::h1 {

using Clock = std::chrono::steady_clock;

struct ReadOutcome {
  boost::system::error_code ec;  // eof included
  std::size_t n = 0;             // bytes appended (may be > 0 with an error or a timeout)
  bool timed_out = false;        // the timer fired (deadline or stop) before the read finished
};

// One read_some appended to `buf` (at most `max` bytes), racing `timer`: its expiry or a
// cancel() stops the read. Bytes that arrived together with the timer are kept.
boost::asio::awaitable<ReadOutcome> read_racing(AnyStream& s, std::string& buf, std::size_t max,
                                                boost::asio::steady_timer& timer);
// The same with a deadline.
boost::asio::awaitable<ReadOutcome> read_until(AnyStream& s, std::string& buf, std::size_t max,
                                               Clock::time_point deadline);
// write_all within `timeout` (error timed_out after it; the stream is then unusable).
boost::asio::awaitable<boost::system::error_code> write_within(AnyStream& s, std::string_view data,
                                                               std::chrono::milliseconds timeout);

// Closes with a TCP reset (SO_LINGER 0): the peer sees an error, not an end of data.
void abortive_close(AnyStream& s);
// Sends FIN, then reads and discards what the peer still sends (at most `max_bytes`, until
// `timeout`) so that the peer reads our last bytes before the close instead of a reset.
boost::asio::awaitable<void> lingering_close(AnyStream& s, std::size_t max_bytes,
                                             std::chrono::milliseconds timeout);

// The consumer end of a pipe, as a session writing it to the wire reads it: next() waits for a
// chunk like BodyPipe::read() but also returns (nullopt) when stop() is called, e.g. because
// the connection it writes to went away. Owns the pipe's on_readable hook while it lives.
class PipeConsumer {
 public:
  PipeConsumer(Body pipe, boost::asio::any_io_executor ex);
  ~PipeConsumer();
  PipeConsumer(const PipeConsumer&) = delete;
  PipeConsumer& operator=(const PipeConsumer&) = delete;

  std::optional<BodyPipe::Chunk> try_next(std::size_t max);
  boost::asio::awaitable<std::optional<BodyPipe::Chunk>> next(std::size_t max);
  void stop();
  bool stopped() const { return stopped_; }

 private:
  Body pipe_;
  boost::asio::steady_timer wake_;
  bool stopped_ = false;
};

// The producer end: wait_writable() like BodyPipe's, but stop() ends the wait too. Owns the
// pipe's on_consumed and on_cancel hooks while it lives.
class PipeProducer {
 public:
  PipeProducer(Body pipe, boost::asio::any_io_executor ex);
  ~PipeProducer();
  PipeProducer(const PipeProducer&) = delete;
  PipeProducer& operator=(const PipeProducer&) = delete;

  // True when the producer may push more; false when the consumer cancelled or stop() was called.
  boost::asio::awaitable<bool> wait_writable();
  void stop();
  bool stopped() const { return stopped_; }

 private:
  Body pipe_;
  boost::asio::steady_timer wake_;
  bool stopped_ = false;
};

// Incremental body decoding from a connection buffer, for Content-Length, chunked and
// close-delimited bodies: take() moves what `buf` holds of the body into `data` and leaves the
// rest (the next message) in `buf`.
class BodyDecoder {
 public:
  BodyDecoder(BodyFraming framing, std::uint64_t length, std::size_t max_trailer_bytes)
      : framing_(framing), left_(length), chunked_(max_trailer_bytes) {}
  // Error bad_chunked_body.
  Result<void> take(std::string& buf, std::string& data);
  bool done() const;
  // Trailer fields, names lowercased (chunked only).
  HeaderList trailers() const;

 private:
  BodyFraming framing_;
  std::uint64_t left_;
  ChunkedDecoder chunked_;
};

// Frames a body on the wire; tracks what it wrote so that a short or long body is caught.
class BodyEncoder {
 public:
  BodyEncoder(BodyFraming framing, std::uint64_t length) : framing_(framing), left_(length) {}
  // Appends `data` encoded to `out`; false when it is more than Content-Length allows.
  bool data(std::string_view data, std::string& out);
  // Appends the end (the last chunk with `trailers`); false when a Content-Length body is short.
  bool end(const HeaderList& trailers, std::string& out);

 private:
  BodyFraming framing_;
  std::uint64_t left_;
};

// A body that is done() already, taken whole: its data appended to `data`, its trailers into
// `trailers`; false when its producer failed.
bool take_complete(BodyPipe& body, std::string& data, HeaderList& trailers);
// Lowercased field names; hop-by-hop fields (and what cannot be forwarded as a field) dropped.
HeaderList lowered(const Fields& fields);
// A Content-Length value: digits only, no overflow.
std::optional<std::uint64_t> parse_length(std::string_view v);
// The standard reason phrase for a status ("Unknown" when there is none).
std::string reason_phrase(unsigned status);
bool iequal(std::string_view a, std::string_view b);
// A short name for an I/O error, for results and logs.
std::string io_error_name(const boost::system::error_code& ec);

}  // namespace strait::proxy::http::h1
