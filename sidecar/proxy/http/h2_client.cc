// The client side of an HTTP/2 connection (sans I/O apart from owning its stream; see
// h2_core.h): send() submits a request and waits for the response head, DATA feeds the
// response's BodyPipe, resets, GOAWAY and connection loss fail what they hit.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sidecar/proxy/http/h2_core.h"
#include "sidecar/proxy/stream.h"

namespace strait::proxy::http::h2 {

namespace asio = boost::asio;

// send()'s rendezvous with the stream: the head (or the failure) and a timer to wake on.
struct ClientCore::Waiter {
  explicit Waiter(const asio::any_io_executor& ex)
      : wake(ex, asio::steady_timer::time_point::max()) {}
  void set(Result<Response> r) {
    if (result) return;
    result.emplace(std::move(r));
    wake.cancel();
  }
  asio::steady_timer wake;
  std::optional<Result<Response>> result;
};

struct ClientCore::Stream {
  std::int32_t id = 0;
  std::shared_ptr<Waiter> waiter;
  Body req;  // we consume (the data provider)
  ResponseHead head;
  HeaderList trailers;
  std::size_t header_bytes = 0;
  bool headers_done = false;
  bool too_large = false;
  bool cancel_sent = false;
  std::weak_ptr<BodyPipe> resp;  // we produce; the caller owns it
  std::shared_ptr<std::size_t> unconsumed = std::make_shared<std::size_t>(0);
};

std::shared_ptr<ClientCore> ClientCore::create(asio::any_io_executor ex,
                                               std::unique_ptr<AnyStream> stream, H2Limits limits,
                                               RefusalSink sink) {
  std::shared_ptr<ClientCore> core(
      new ClientCore(std::move(ex), std::move(stream), limits, std::move(sink)));
  if (!core->init()) core->connection_lost("nghttp2 session setup failed");
  return core;
}

ClientCore::ClientCore(asio::any_io_executor ex, std::unique_ptr<AnyStream> stream, H2Limits limits,
                       RefusalSink sink)
    : Core(ex, limits, std::move(sink), /*server=*/false),
      stream_(std::move(stream)),
      slot_wake_(ex, asio::steady_timer::time_point::max()) {}

ClientCore::~ClientCore() = default;

bool ClientCore::usable() const {
  return ng_ && !dead_ && !goaway_received_ && !draining_ && !terminating_;
}

Error ClientCore::unusable_error() const {
  if (dead_ || !ng_) {
    return Error{"connection_error",
                 "HTTP/2 connection closed" + (lost_why_.empty() ? "" : ": " + lost_why_)};
  }
  return Error{"goaway_retryable", "HTTP/2 connection is going away; the request was not sent"};
}

std::size_t ClientCore::peer_max_streams() const {
  if (!ng_) return 0;
  return nghttp2_session_get_remote_settings(ng_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

void ClientCore::drain() {
  if (draining_ || dead_ || !ng_) return;
  draining_ = true;
  drain_at_ = now();
  nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
  slot_wake_.cancel();
  wake();
}

asio::awaitable<Result<Response>> ClientCore::send(Request request) {
  auto keep = shared_from_this();
  // A free slot under the server's limit; woken by every stream end and by the connection's.
  while (usable() && streams_.size() >= peer_max_streams()) {
    slot_wake_.expires_at(asio::steady_timer::time_point::max());
    co_await slot_wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (!usable()) {
    if (request.body) request.body->cancel("connection_closed");
    co_return unusable_error();
  }

  const RequestHead& h = request.head;
  NvList nv;
  nv.add(":method", h.method);
  std::string authority = h.authority;
  if (authority.empty()) {
    if (auto host = find_field(h.fields, "host")) authority = *host;
  }
  if (h.method == "CONNECT" && h.path.empty()) {
    nv.add(":authority", authority);
  } else {
    nv.add(":scheme", h.scheme.empty() ? std::string_view("http") : std::string_view(h.scheme));
    if (!authority.empty()) nv.add(":authority", authority);
    nv.add(":path", h.path.empty() ? std::string_view("/") : std::string_view(h.path));
  }
  if (h.te_trailers) nv.add("te", "trailers");
  nv.add_fields(h.fields);

  nghttp2_data_provider prd = body_provider();
  const std::int32_t id = nghttp2_submit_request(ng_, nullptr, nv.data(), nv.size(),
                                                 request.body ? &prd : nullptr, nullptr);
  if (id < 0) {
    if (request.body) request.body->cancel("submit_failed");
    co_return Error{"submit_failed", nghttp2_strerror(id)};
  }
  auto s = std::make_unique<Stream>();
  s->id = id;
  s->waiter = std::make_shared<Waiter>(ex_);
  s->req = std::move(request.body);
  if (s->req) {
    std::weak_ptr<Core> weak = weak_from_this();
    s->req->on_readable([weak, id] {
      if (auto c = weak.lock()) static_cast<ClientCore*>(c.get())->defer_resume(id);
    });
  }
  auto waiter = s->waiter;
  streams_.emplace(id, std::move(s));
  wake();
  // Ends with the response head, or with the stream's or the connection's end.
  while (!waiter->result) {
    waiter->wake.expires_at(asio::steady_timer::time_point::max());
    co_await waiter->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return std::move(*waiter->result);
}

void ClientCore::fail(Stream& s, Error e, std::string_view body_error) {
  if (s.waiter) s.waiter->set(std::move(e));
  if (s.req && !s.req->drained()) s.req->cancel(std::string(body_error));
  if (auto resp = s.resp.lock(); resp && !resp->done()) resp->abort(std::string(body_error));
}

int ClientCore::on_begin_headers(const nghttp2_frame* frame) {
  auto it = streams_.find(frame->hd.stream_id);
  if (it == streams_.end()) return 0;
  Stream& s = *it->second;
  s.header_bytes = 0;
  if (!s.headers_done) s.head = ResponseHead{};  // a new block after an interim 1xx
  return 0;
}

int ClientCore::on_header(const nghttp2_frame* frame, std::string_view name,
                          std::string_view value) {
  auto it = streams_.find(frame->hd.stream_id);
  if (it == streams_.end()) return 0;
  Stream& s = *it->second;
  s.header_bytes += field_size(name, value);
  if (s.header_bytes > limits_.max_header_list_bytes) {
    s.too_large = true;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM; on_close fails the send
  }
  if (s.headers_done) {
    if (!name.empty() && name[0] != ':') s.trailers.emplace_back(name, value);
    return 0;
  }
  if (name == ":status") {
    unsigned v = 0;
    for (char c : value) v = v * 10 + static_cast<unsigned>(c - '0');  // nghttp2 checked it
    s.head.status = v;
    return 0;
  }
  if (!name.empty() && name[0] == ':') return 0;
  if (is_connection_specific(name)) return 0;
  s.head.fields.emplace_back(name, value);
  return 0;
}

void ClientCore::deliver_head(Stream& s, bool end_stream) {
  s.headers_done = true;
  Response r;
  r.head = std::move(s.head);
  if (!end_stream) {
    auto body = std::make_shared<BodyPipe>(ex_, limits_.initial_stream_window);
    std::weak_ptr<Core> weak = weak_from_this();
    const std::int32_t id = s.id;
    auto unconsumed = s.unconsumed;
    body->on_consumed([weak, id, unconsumed](std::size_t n) {
      *unconsumed -= std::min(*unconsumed, n);
      if (auto c = weak.lock()) static_cast<ClientCore*>(c.get())->defer_consume(id, n);
    });
    body->on_cancel([weak, id, unconsumed] {
      // The caller gave up on the body: reset the stream, give the window back.
      if (auto c = weak.lock()) {
        auto* self = static_cast<ClientCore*>(c.get());
        self->defer_consume(id, std::exchange(*unconsumed, 0));
        auto it = self->streams_.find(id);
        if (it != self->streams_.end() && !it->second->cancel_sent) {
          it->second->cancel_sent = true;
          self->defer_rst(id, NGHTTP2_CANCEL);
        }
      }
    });
    s.resp = body;
    r.body = std::move(body);
  }
  s.waiter->set(std::move(r));
}

int ClientCore::on_frame(const nghttp2_frame* frame) {
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    // nghttp2 closes the streams above last_stream_id (REFUSED_STREAM) itself; on_close
    // tells those callers to retry. Waiting send()s see usable() false.
    slot_wake_.cancel();
    return 0;
  }
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  auto it = streams_.find(frame->hd.stream_id);
  if (it == streams_.end()) return 0;
  Stream& s = *it->second;
  const bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  if (frame->hd.type == NGHTTP2_HEADERS) {
    if (!s.headers_done) {
      if (s.head.status >= 100 && s.head.status < 200 && !end) {
        s.head = ResponseHead{};  // interim: wait for the final head
        return 0;
      }
      deliver_head(s, end);
      return 0;
    }
    if (end) {
      if (auto resp = s.resp.lock()) resp->finish(std::move(s.trailers));
    }
    return 0;
  }
  if (end) {
    if (auto resp = s.resp.lock()) resp->finish();
  }
  return 0;
}

int ClientCore::on_data(std::int32_t id, const std::uint8_t* data, std::size_t n) {
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    defer_consume(id, n);
    return 0;
  }
  Stream& s = *it->second;
  auto resp = s.resp.lock();
  if (!resp || resp->cancelled() || resp->done()) {
    std::size_t give = n;
    if (!resp) give += std::exchange(*s.unconsumed, 0);
    defer_consume(id, give);
    if (!resp && !s.cancel_sent) {  // the caller dropped the response: stop the server
      s.cancel_sent = true;
      defer_rst(id, NGHTTP2_CANCEL);
    }
    return 0;
  }
  *s.unconsumed += n;
  resp->push(std::string(reinterpret_cast<const char*>(data), n));
  return 0;
}

ssize_t ClientCore::on_read_body(std::int32_t id, std::uint8_t* buf, std::size_t len,
                                 std::uint32_t* flags) {
  auto it = streams_.find(id);
  return pull_body(ng_, id, it == streams_.end() ? nullptr : it->second->req.get(), buf, len,
                   flags);
}

int ClientCore::on_close(std::int32_t id, std::uint32_t code) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return 0;
  Stream& s = *it->second;
  // What nobody will read any more goes back to the connection window (a finished body
  // still being read gives its bytes back as they are consumed).
  auto resp = s.resp.lock();
  if (!resp || resp->cancelled() || !resp->done()) {
    defer_consume(id, std::exchange(*s.unconsumed, 0));
  }
  if (!s.headers_done) {
    if (s.too_large) {
      fail(s, Error{"headers_too_large", "response header list over " +
                                             std::to_string(limits_.max_header_list_bytes) +
                                             " bytes"});
    } else if (goaway_received_ && id > goaway_last_id_) {
      fail(s, Error{"goaway_retryable", "the server sent GOAWAY before processing the request"});
    } else if (code == NGHTTP2_REFUSED_STREAM) {
      fail(s, Error{"stream_refused", "the server refused the stream (not processed)"});
    } else {
      fail(s, Error{"stream_reset", std::string("stream reset before the response: ") +
                                        nghttp2_http2_strerror(code)});
    }
  } else {
    fail(s, Error{"stream_reset", "reset"});  // only aborts an unfinished body
  }
  streams_.erase(it);
  slot_wake_.cancel();
  return 0;
}

void ClientCore::on_not_sent(const nghttp2_frame* frame, int lib_error) {
  if (frame->hd.type != NGHTTP2_HEADERS) return;
  auto it = streams_.find(frame->hd.stream_id);
  if (it == streams_.end() || it->second->headers_done) return;
  Stream& s = *it->second;
  if (lib_error == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED || goaway_received_ || terminating_) {
    fail(s, Error{"goaway_retryable", "the connection is going away; the request was not sent"});
  } else {
    fail(s, Error{"submit_failed", nghttp2_strerror(lib_error)});
  }
  streams_.erase(it);
  slot_wake_.cancel();
}

void ClientCore::on_lost(std::string_view why) {
  lost_why_ = why;
  for (auto& [id, s] : streams_) {
    fail(*s, Error{"connection_error", "HTTP/2 connection lost: " + std::string(why)},
         "connection_error");
  }
  streams_.clear();
  slot_wake_.cancel();
}

}  // namespace strait::proxy::http::h2
