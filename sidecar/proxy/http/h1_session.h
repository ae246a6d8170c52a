// HTTP/1.x sessions over a stream (plain TCP or TLS), on the message model of message.h:
//
//   H1Server::serve  serves one connection from a client (the application's, or another
//                    proxy's): request heads in, through the Handler, responses out; keep-alive
//                    and pipelining (strictly in order, one exchange at a time); an Upgrade or a
//                    CONNECT is handed back to the caller rather than served.
//   H1Client         one connection to an HTTP/1.1 server: send() a Request, get the Response
//                    head back while the bodies stream both ways; reused when the exchange ended
//                    cleanly.
//   H1Pool           idle H1Clients per destination, reused LIFO, closed after an idle time.
//
// Untrusted bytes are parsed only by http1_head (heads) and chunked (bodies), both fuzzed. All
// reads have deadlines (H1Limits); I/O failures are error codes and Result, never exceptions.
// Everything runs on one executor (the proxy's I/O thread): no locks.
//
// Decisions worth knowing:
//  * Expect: 100-continue (HTTP/1.1) is answered by the server session right after the head is
//    accepted, before the handler runs (BodyPipe has no "the consumer wants data" signal); the
//    100 is never forwarded, and H1Client does not send Expect.
//  * A body whose producer fails (kError) is never made to look complete: a chunked body gets
//    no last-chunk, a Content-Length body stays short, and a close-delimited body ends with a
//    TCP reset; the connection is closed in every case.
//  * Server: while a response is written, the session goes on reading from the client (bytes go
//    to the buffer for the next pipelined request, bounded by max_head_bytes). A read error
//    (reset) means the client is gone: the response body is cancelled ("client_gone"). EOF is a
//    half-close: the response is still written, then the connection ends (requests already
//    buffered are answered first).
//  * Server: when the response is complete but the handler did not read the whole request body,
//    the body is cancelled and drained (at most max_drain_bytes within drain_timeout) so that
//    the connection can carry the next request; past that bound the connection is closed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "sidecar/proxy/http/message.h"
#include "sidecar/proxy/stream.h"

namespace strait::proxy::http {

struct H1Limits {
  // A request head over this -> 431 headers_too_large; a response head -> bad_response.
  std::size_t max_head_bytes = 16 * 1024;
  std::size_t max_trailer_bytes = 8 * 1024;
  // A request head must be complete this long after the session started waiting for it (for
  // the first request: from serve(); later: from the request's first byte). Else the
  // connection is closed, reason header_timeout.
  std::chrono::milliseconds header_timeout{10'000};
  // Keep-alive: how long a connection may wait for the first byte of its next request.
  std::chrono::milliseconds idle_timeout{60'000};
  // While a body moves: the longest wait for one read or one write to make progress.
  std::chrono::milliseconds body_timeout{60'000};
  // H1Client: from the request head written to the response head read.
  std::chrono::milliseconds response_timeout{60'000};
  // Server: an unread request body is drained up to this many bytes within this time before
  // the connection is reused; a closing connection lingers as long to let the client read.
  std::size_t max_drain_bytes = 256 * 1024;
  std::chrono::milliseconds drain_timeout{2'000};
  // The window of the BodyPipes the sessions produce into.
  std::size_t body_window = BodyPipe::kDefaultWindow;
  // Server: the owner's drain flag (null: never drains). Once it is true, the response being
  // written says Connection: close and is the last; a keep-alive wait for the next request ends
  // (within half a second) and the connection closes.
  const bool* draining = nullptr;
};

// ---- server

// An Upgrade (e.g. WebSocket) or CONNECT request, handed back by serve() instead of served: the
// caller forwards head_bytes (and then leftover) to an upstream and, after its 101 or 2xx,
// relays both connections opaquely. The client's stream is left open for it.
struct H1Upgrade {
  enum class Kind { kUpgrade, kConnect };
  Kind kind = Kind::kUpgrade;
  RequestHead head;        // as for a Handler (authority, path, end-to-end fields)
  std::string protocol;    // the Upgrade field's value ("websocket"); empty for CONNECT
  std::string head_bytes;  // the request head re-serialized (Connection/Upgrade rewritten)
  std::string leftover;    // bytes the client sent after the head, to forward first
};

struct H1ServeResult {
  enum class End {
    kClosed,   // the client closed, or a response said Connection: close
    kTimeout,  // idle_timeout (keep-alive) or header_timeout; see reason
    kRefused,  // a request was refused (400/417/431), or its body was malformed
    kError,    // an I/O error, a body that aborted, a client gone mid-response
    kUpgrade,  // see upgrade; the stream is still open
  };
  End end = End::kClosed;
  // What ended it: "closed", "idle_timeout", "header_timeout", a refusal reason
  // (bad_request, request_smuggling, headers_too_large, ...), "client_gone",
  // "response_body_aborted", "io_error", ...
  std::string reason;
  std::uint64_t requests = 0;  // requests passed to the handler
  std::optional<H1Upgrade> upgrade;
};

class H1Server {
 public:
  // Serves `stream` until the connection ends; `prefix` holds bytes already read from it
  // (protocol detection), parsed first. The stream is closed on return, except for kUpgrade.
  // Refusals and timeouts are reported to `sink` (may be empty) as well as in the result.
  static boost::asio::awaitable<H1ServeResult> serve(AnyStream& stream, std::string prefix,
                                                     H1Limits limits, Handler handler,
                                                     RefusalSink sink);
};

// ---- client

// One connection to an HTTP/1.1 server. send() writes the request head (HTTP/1.1, origin-form,
// Host from authority; Content-Length when the request has a content-length field or a
// complete body, else chunked with trailers), streams the request body in the background and
// returns when the response head arrived (1xx other than 101 skipped). The response body is fed
// by a background reader. The connection becomes reusable again once both bodies are complete
// and the server allows keep-alive. Errors: connection_error, bad_response, response_timeout,
// busy (an exchange is in progress).
//
// Background work keeps the connection's state alive by itself: destroying the H1Client closes
// the connection, which ends any body still moving (the response body aborts).
class H1Client {
 public:
  explicit H1Client(std::unique_ptr<AnyStream> stream, H1Limits limits = {});
  ~H1Client();
  H1Client(const H1Client&) = delete;
  H1Client& operator=(const H1Client&) = delete;

  boost::asio::awaitable<Result<Response>> send(Request request);

  // Open, no exchange in progress, keep-alive allowed: send() may be called.
  bool reusable() const;
  // Open (possibly busy).
  bool open() const;
  // Open with an exchange in progress (a body still moving).
  bool busy() const;
  void close();

  // After a 101 response: the stream and the bytes already read beyond the 101's head, for the
  // caller to relay. Null unless the last response was a 101.
  std::unique_ptr<AnyStream> release_upgraded(std::string& leftover);

  struct State;  // shared with the background body coroutines

 private:
  std::shared_ptr<State> st_;
};

// Idle connections per destination (a string key, e.g. "10.0.0.7:8080"), reused
// last-in-first-out, closed after `idle_for` unused; at most `max_idle` kept per destination.
// How connections are opened is the caller's: `connect` is called when none is idle.
class H1Pool {
 public:
  using Connect = std::function<boost::asio::awaitable<Result<std::unique_ptr<AnyStream>>>(
      const std::string& destination)>;

  H1Pool(Connect connect, H1Limits limits, std::size_t max_idle = 4,
         std::chrono::milliseconds idle_for = std::chrono::seconds(30));

  // A connection to `destination`: an idle one (fresh ones first), else a new one.
  boost::asio::awaitable<Result<std::unique_ptr<H1Client>>> acquire(const std::string& destination);
  // Gives a connection back; kept only when reusable(), else closed. A connection still busy
  // (its response body being read) is kept aside and becomes idle when it finishes — callers
  // may simply release right after send().
  void release(const std::string& destination, std::unique_ptr<H1Client> client);
  // Sends on a pooled connection; a reused connection that fails before any response byte is
  // retried once on a new one when the request has no body (the server may have closed it
  // while idle).
  boost::asio::awaitable<Result<Response>> send(const std::string& destination, Request request);

  std::size_t idle_count(const std::string& destination) const;

 private:
  struct Idle {
    std::unique_ptr<H1Client> client;
    std::chrono::steady_clock::time_point since;
  };
  void expire(std::vector<Idle>& list);

  Connect connect_;
  H1Limits limits_;
  std::size_t max_idle_;
  std::chrono::milliseconds idle_for_;
  std::map<std::string, std::vector<Idle>> idle_;
};

}  // namespace strait::proxy::http
