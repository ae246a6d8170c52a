// The proxy's HTTP message model, shared by every session (HTTP/1 and HTTP/2, server and
// client side) and by the request path between them: a request or response is a head plus an
// optional body, and a body is a BodyPipe — a bounded queue of data chunks from one producer to
// one consumer that ends with trailers, or with an error. Both ends run on the proxy's one I/O
// thread; the pipe holds no lock.
//
//   producer (a session reading from the wire)   consumer (a session writing to the wire)
//     push(data) ... finish(trailers) / abort() ->  read() / try_read() ... kEnd / kError
//     wait_writable() while full               <-  cancel() when the consumer gives up
//
// Flow control is by bytes buffered: push() never blocks (HTTP/2's receive callbacks cannot
// wait), writable() says whether the producer should read more, and the on_consumed hook tells
// an HTTP/2 producer how many bytes to give back to the peer's window. The on_readable hook
// wakes an HTTP/2 data provider that deferred for want of data. Hooks belong to one side each:
// on_consumed and on_cancel to the producer, on_readable to the consumer; a hook must not call
// back into the pipe's other end synchronously in a way that re-enters its owner (an nghttp2
// callback, say) — set a flag and wake a coroutine instead.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strait::proxy::http {

// Field names in lower case (HTTP/2's rule; HTTP/1 names are lowered when read), values as sent.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The first value of `name` (lower case) in `fields`; nullopt when absent.
std::optional<std::string_view> find_field(const HeaderList& fields, std::string_view name);
// Removes every field called `name` (lower case); returns how many went.
std::size_t remove_field(HeaderList& fields, std::string_view name);

enum class HttpVersion { kHttp10, kHttp11, kHttp2 };
std::string_view version_name(HttpVersion v);  // "HTTP/1.0", "HTTP/1.1", "HTTP/2"

struct RequestHead {
  std::string method;     // "GET", ...
  std::string scheme;     // "http" / "https" (h2 :scheme; h1: "http" unless absolute-form says)
  std::string authority;  // h2 :authority, h1 Host (or the absolute-form's authority)
  std::string path;       // origin-form "/p?q"; "*" for OPTIONS *; empty for CONNECT
  HeaderList fields;      // end-to-end fields: no pseudo-headers, no hop-by-hop fields
  HttpVersion version = HttpVersion::kHttp2;  // what the client spoke
  bool expect_continue = false;               // HTTP/1 Expect: 100-continue (answered by the proxy)
  bool te_trailers = false;                   // the client takes trailers (TE: trailers / HTTP/2)
};

struct ResponseHead {
  unsigned status = 200;
  std::string reason;  // HTTP/1 reason phrase if one came ("" -> the standard one)
  HeaderList fields;   // end-to-end fields, as above
};

class BodyPipe {
 public:
  static constexpr std::size_t kDefaultWindow = 64 * 1024;

  struct Chunk {
    enum class Kind { kData, kEnd, kError };
    Kind kind = Kind::kData;
    std::string data;     // kData
    HeaderList trailers;  // kEnd (may be empty)
    std::string error;    // kError: why the producer failed ("reset", "idle_timeout", ...)
  };

  explicit BodyPipe(boost::asio::any_io_executor ex, std::size_t window = kDefaultWindow);
  ~BodyPipe();
  BodyPipe(const BodyPipe&) = delete;
  BodyPipe& operator=(const BodyPipe&) = delete;

  // ---- producer
  // Queues bytes (never waits; empty data is ignored). After cancel() the bytes are dropped.
  void push(std::string data);
  // No more data; trailers follow (or none). Later pushes are ignored.
  void finish(HeaderList trailers = {});
  // The producer failed: queued data is dropped and the consumer reads kError next (a
  // half-relayed body must never look complete).
  void abort(std::string reason);
  // Below the window: the producer should go on reading from its peer.
  bool writable() const { return buffered_ < window_; }
  // Waits until writable() or the consumer cancelled; false when cancelled.
  boost::asio::awaitable<bool> wait_writable();
  bool cancelled() const { return cancelled_; }
  const std::string& cancel_reason() const { return cancel_reason_; }
  // Called with the byte count each time the consumer takes data (HTTP/2 producers return
  // window to their peer with it).
  void on_consumed(std::function<void(std::size_t)> f) { on_consumed_ = std::move(f); }
  // Called when the consumer cancels (a producer blocked elsewhere, e.g. an HTTP/2 stream,
  // resets its side).
  void on_cancel(std::function<void()> f) { on_cancel_ = std::move(f); }

  // ---- consumer
  // The next chunk: data (at most `max` bytes), or the end, or the error; waits while empty.
  boost::asio::awaitable<Chunk> read(std::size_t max = SIZE_MAX);
  // The same without waiting: nullopt while nothing is there yet.
  std::optional<Chunk> try_read(std::size_t max = SIZE_MAX);
  // Called whenever something becomes readable (data, the end, an error).
  void on_readable(std::function<void()> f) { on_readable_ = std::move(f); }
  // The consumer gives up: later pushes are dropped, wait_writable() returns false, and reads
  // (a reader still waiting included) give kError with the reason.
  void cancel(std::string reason);
  // Observes the body's end as its consumer meets it, without standing between producer and
  // consumer: called once, with the trailers when the consumer reads the end, or with null
  // when it reads an error, cancels, or the pipe goes away before its end was read.
  using EndObserver = std::function<void(const HeaderList* trailers)>;
  void observe_end(EndObserver f) { on_end_ = std::move(f); }
  // The producer has finished or aborted (what is left to read is already queued).
  bool done() const { return state_ != State::kOpen; }
  // Everything, including the end, has been read.
  bool drained() const { return delivered_end_; }
  std::size_t buffered() const { return buffered_; }

 private:
  enum class State { kOpen, kFinished, kAborted };
  void wake_reader();
  void wake_writer();
  void ended(const HeaderList* trailers);

  boost::asio::steady_timer reader_wake_;
  boost::asio::steady_timer writer_wake_;
  std::size_t window_;
  std::deque<std::string> queue_;
  std::size_t buffered_ = 0;
  State state_ = State::kOpen;
  HeaderList trailers_;
  std::string error_;
  bool delivered_end_ = false;
  bool cancelled_ = false;
  std::string cancel_reason_;
  std::function<void(std::size_t)> on_consumed_;
  std::function<void()> on_cancel_;
  std::function<void()> on_readable_;
  EndObserver on_end_;
};

using Body = std::shared_ptr<BodyPipe>;  // null: no body at all (HTTP/2 END_STREAM on HEADERS)

struct Request {
  RequestHead head;
  Body body;
};

struct Response {
  ResponseHead head;
  Body body;
};

// A body of `bytes` that is already complete (local answers, tests).
Body complete_body(boost::asio::any_io_executor ex, std::string bytes, HeaderList trailers = {});

// Reads a body to its end into one string, at most `limit` bytes (more: error "too_large").
// Returns the bytes and trailers, or the producer's error in `error`. For tests and small local
// bodies; the data path streams.
struct CollectedBody {
  std::string data;
  HeaderList trailers;
  std::string error;
};
boost::asio::awaitable<CollectedBody> collect(Body body, std::size_t limit = 16 * 1024 * 1024);

// What serves a request: the proxy's request path, or a test's application. It owns the request
// (and reads its body, or cancels it) and answers with a response whose body it produces.
// Errors are answers too: the proxy's own (503 no endpoints, 502 upstream failed) carry a
// strait-proxy-error field.
using Handler = std::function<boost::asio::awaitable<Response>(Request)>;

// A response made by the proxy itself: `status`, a text body, and strait-proxy-error: `reason`
// (omitted when empty).
Response local_response(boost::asio::any_io_executor ex, unsigned status, std::string_view reason,
                        std::string body = {});

inline constexpr std::string_view kProxyErrorField = "strait-proxy-error";

// Where a session reports what it refused or tore down (a reason label such as bad_request,
// headers_too_large, request_smuggling, h2_protocol_error, too_many_resets, header_timeout,
// and a detail for the log). The proxy counts and logs it; tests collect it.
using RefusalSink = std::function<void(std::string_view reason, std::string_view detail)>;

}  // namespace strait::proxy::http
