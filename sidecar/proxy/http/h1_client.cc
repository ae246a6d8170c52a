// The HTTP/1.1 client session (see h1_session.h): send() writes the request head and reads the
// response head; two background coroutines move the bodies (request body out, response body
// in). They share the connection's State, which outlives the H1Client if it must.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <variant>

#include "sidecar/proxy/http/h1_body.h"
#include "sidecar/proxy/http/h1_session.h"

namespace strait::proxy::http {
namespace asio = boost::asio;
using namespace h1;

namespace {
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kWriteBatch = 64 * 1024;

// Sets a pointer for a scope.
template <typename T>
struct ScopedPointer {
  ScopedPointer(T*& slot, T* value) : slot_(slot) { slot_ = value; }
  ~ScopedPointer() { slot_ = nullptr; }
  T*& slot_;
};
}  // namespace

struct H1Client::State {
  State(std::unique_ptr<AnyStream> s, H1Limits l)
      : stream(std::move(s)), lim(l), ex(stream->socket().get_executor()) {}

  // Ends the connection: the socket closes and the body coroutines stop.
  void fail(std::string reason) {
    if (!is_open) return;
    is_open = false;
    fail_reason = std::move(reason);
    if (stream) stream->close();
    if (req_consumer) req_consumer->stop();
    if (resp_producer) resp_producer->stop();
  }
  void request_complete() {
    request_done = true;
    maybe_idle();
  }
  void response_complete() {
    response_done = true;
    // The server is done: a request body still going out is not wanted (and the connection
    // cannot be reused with half a body sent).
    if (!request_done) fail("early_response");
    maybe_idle();
  }
  void maybe_idle() {
    if (!request_done || !response_done || upgraded) return;
    busy = false;
    if (!keep_alive || !buf.empty()) fail("not_reusable");
  }

  std::unique_ptr<AnyStream> stream;
  const H1Limits lim;
  asio::any_io_executor ex;
  std::string buf;  // bytes read and not yet parsed
  bool is_open = true;
  bool busy = false;
  bool keep_alive = true;
  bool request_done = true;
  bool response_done = true;
  bool upgraded = false;
  std::string fail_reason;
  PipeConsumer* req_consumer = nullptr;   // the request body going out
  PipeProducer* resp_producer = nullptr;  // the response body coming in
};

namespace {

using State = H1Client::State;

asio::awaitable<void> write_body(std::shared_ptr<State> st, Body body, BodyFraming framing,
                                 std::uint64_t length) {
  BodyEncoder enc(framing, length);
  PipeConsumer pc(body, st->ex);
  ScopedPointer<PipeConsumer> scoped(st->req_consumer, &pc);
  std::string out;
  auto flush = [&]() -> asio::awaitable<bool> {
    if (out.empty()) co_return true;
    if (auto ec = co_await write_within(*st->stream, out, st->lim.body_timeout)) {
      st->fail(io_error_name(ec));
      co_return false;
    }
    out.clear();
    co_return true;
  };
  while (true) {
    auto c = pc.try_next(kWriteBatch);
    if (!c) {
      if (!co_await flush()) break;
      c = co_await pc.next(kWriteBatch);
      if (!c) break;  // stopped: the connection failed
    }
    if (!st->is_open) break;
    switch (c->kind) {
      case BodyPipe::Chunk::Kind::kData:
        if (!enc.data(c->data, out)) {
          st->fail("request_body_too_long");
          break;
        }
        if (out.size() >= kWriteBatch) {
          const bool flushed = co_await flush();  // not in the condition: GCC 12
          if (!flushed) break;
        }
        continue;
      case BodyPipe::Chunk::Kind::kEnd:
        if (!enc.end(c->trailers, out)) {
          st->fail("request_body_short");
          break;
        }
        if (!co_await flush()) break;
        st->request_complete();
        co_return;
      case BodyPipe::Chunk::Kind::kError:
        // Never finish a body that did not: no last-chunk, the connection goes.
        st->fail("request_body_aborted");
        break;
    }
    break;
  }
  body->cancel(st->fail_reason.empty() ? "connection_error" : st->fail_reason);
}

asio::awaitable<void> read_body(std::shared_ptr<State> st, Body pipe, BodyFraming framing,
                                std::uint64_t length) {
  BodyDecoder dec(framing, length, st->lim.max_trailer_bytes);
  PipeProducer producer(pipe, st->ex);
  ScopedPointer<PipeProducer> scoped(st->resp_producer, &producer);
  while (true) {
    std::string data;
    if (auto ok = dec.take(st->buf, data); !ok) {
      pipe->abort("bad_chunked_body");
      st->fail("bad_chunked_body");
      co_return;
    }
    pipe->push(std::move(data));
    if (dec.done()) {
      pipe->finish(dec.trailers());
      st->response_complete();
      co_return;
    }
    if (!co_await producer.wait_writable()) {
      if (pipe->cancelled()) st->fail("response_cancelled");
      pipe->abort(st->fail_reason);
      co_return;
    }
    if (!st->is_open) {
      pipe->abort(st->fail_reason);
      co_return;
    }
    auto o =
        co_await read_until(*st->stream, st->buf, kReadChunk, Clock::now() + st->lim.body_timeout);
    if (o.n > 0) continue;
    if (o.ec == asio::error::eof && framing == BodyFraming::kUntilClose) {
      pipe->finish();
      st->keep_alive = false;
      st->response_complete();
      co_return;
    }
    const std::string why = o.timed_out                ? "idle_timeout"
                            : o.ec == asio::error::eof ? "upstream_closed"
                                                       : io_error_name(o.ec);
    pipe->abort(why);
    st->fail(why);
    co_return;
  }
}

bool has_body_method(std::string_view m) {
  return iequal(m, "POST") || iequal(m, "PUT") || iequal(m, "PATCH");
}

}  // namespace

H1Client::H1Client(std::unique_ptr<AnyStream> stream, H1Limits limits)
    : st_(std::make_shared<State>(std::move(stream), limits)) {}

H1Client::~H1Client() { st_->fail("closed"); }

bool H1Client::reusable() const {
  return st_->is_open && !st_->busy && st_->keep_alive && !st_->upgraded;
}
bool H1Client::open() const { return st_->is_open; }
bool H1Client::busy() const { return st_->is_open && st_->busy; }
void H1Client::close() { st_->fail("closed"); }

std::unique_ptr<AnyStream> H1Client::release_upgraded(std::string& leftover) {
  if (!st_->upgraded || !st_->is_open || !st_->stream) return nullptr;
  leftover = std::move(st_->buf);
  st_->buf.clear();
  st_->is_open = false;
  st_->fail_reason = "upgraded";
  return std::move(st_->stream);
}

asio::awaitable<Result<Response>> H1Client::send(Request req) {
  std::shared_ptr<State> st = st_;  // `this` may go while we wait; the state may not
  if (!st->is_open) {
    if (req.body) req.body->cancel("connection_error");
    co_return make_error("connection_error", "the connection is closed (" + st->fail_reason + ")");
  }
  if (st->busy) co_return make_error("busy", "an exchange is in progress on this connection");

  Http1Head h;
  h.is_request = true;
  h.method = req.head.method;
  h.version = 11;
  h.keep_alive = true;
  h.te_trailers = req.head.te_trailers;
  if (iequal(h.method, "CONNECT")) {
    h.target = req.head.authority;
  } else {
    h.target = req.head.path.empty() ? "/" : req.head.path;
  }
  HeaderList fields = lowered(req.head.fields);
  const auto length = parse_length(find_field(fields, "content-length").value_or(""));
  for (std::string_view no : {"host", "content-length", "expect"}) remove_field(fields, no);
  h.fields.emplace_back("host", req.head.authority);
  for (auto& f : fields) h.fields.push_back(std::move(f));

  Body body = req.body;
  std::string inline_;
  bool stream_body = false;
  if (!body) {
    h.framing = BodyFraming::kNone;
  } else if (length && *length == 0) {
    body->cancel("empty");
    if (has_body_method(h.method)) h.framing = BodyFraming::kLength;
  } else if (length) {
    h.framing = BodyFraming::kLength;
    h.content_length = *length;
    stream_body = true;  // checked against the length as it goes out
  } else if (body->done()) {
    // A complete body: sent with a length (unless it has trailers).
    HeaderList trailers;
    const bool failed = !take_complete(*body, inline_, trailers);
    if (failed) co_return make_error("request_body_aborted", "the request body failed");
    if (!trailers.empty()) {
      h.framing = BodyFraming::kChunked;
      inline_ = encode_chunk(inline_) + encode_last_chunk(trailers);
    } else if (!inline_.empty() || has_body_method(h.method)) {
      h.framing = BodyFraming::kLength;
      h.content_length = inline_.size();
    }
  } else {
    h.framing = BodyFraming::kChunked;
    stream_body = true;
  }

  st->busy = true;
  st->keep_alive = true;
  st->request_done = !stream_body;
  st->response_done = false;
  const std::string out = serialize(h) + inline_;
  if (auto ec = co_await write_within(*st->stream, out, st->lim.body_timeout)) {
    st->fail(io_error_name(ec));
    if (body) body->cancel("connection_error");
    co_return make_error("connection_error", "writing the request head: " + st->fail_reason);
  }
  if (stream_body) {
    asio::co_spawn(st->ex, write_body(st, body, h.framing, h.content_length), asio::detached);
  }

  // The response head: interim 1xx responses (100 Continue, 103) are skipped, 101 is not.
  const auto deadline = Clock::now() + st->lim.response_timeout;
  Http1Head rh;
  while (true) {
    auto parsed = parse_response_head(st->buf, st->lim.max_head_bytes, h.method);
    if (auto* got = std::get_if<Http1Head>(&parsed)) {
      st->buf.erase(0, got->head_size);
      if (got->status < 200 && got->status != 101) continue;
      rh = std::move(*got);
      break;
    }
    if (auto* no = std::get_if<HeadRefusal>(&parsed)) {
      st->fail("bad_response");
      co_return make_error("bad_response", no->reason + ": " + no->detail);
    }
    if (!st->is_open) {
      co_return make_error("connection_error", "the connection failed: " + st->fail_reason);
    }
    auto o = co_await read_until(*st->stream, st->buf, kReadChunk, deadline);
    if (o.n > 0) continue;
    if (o.timed_out) {
      st->fail("response_timeout");
      co_return make_error(
          "response_timeout",
          "no response head within " + std::to_string(st->lim.response_timeout.count()) + " ms");
    }
    if (st->is_open) st->fail(io_error_name(o.ec));
    co_return make_error("connection_error", "reading the response head: " + st->fail_reason);
  }

  Response resp;
  resp.head.status = rh.status;
  resp.head.reason = rh.reason;
  resp.head.fields = lowered(rh.fields);
  if (rh.framing == BodyFraming::kLength) {
    resp.head.fields.emplace_back("content-length", std::to_string(rh.content_length));
  }
  st->keep_alive = rh.keep_alive;
  if (rh.status == 101) {
    st->upgraded = true;
    st->response_done = true;
    st->keep_alive = false;
    co_return resp;
  }
  if (rh.framing == BodyFraming::kNone ||
      (rh.framing == BodyFraming::kLength && rh.content_length == 0)) {
    st->response_complete();
    co_return resp;
  }
  resp.body = std::make_shared<BodyPipe>(st->ex, st->lim.body_window);
  asio::co_spawn(st->ex, read_body(st, resp.body, rh.framing, rh.content_length), asio::detached);
  co_return resp;
}

}  // namespace strait::proxy::http
