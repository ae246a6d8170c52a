// The server side of an HTTP/2 connection (sans I/O, see h2_core.h): request streams from
// nghttp2's callbacks into Requests for the handler, each handler in a coroutine of its own, and
// its Response back out through a data provider. Also the rapid-reset cap, the 431 answer to an
// oversized header list, and the graceful drain.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <exception>

#include "sidecar/proxy/http/h2_core.h"

namespace strait::proxy::http::h2 {
namespace {

namespace asio = boost::asio;

constexpr std::uint8_t kDrainPing[8] = {'s', 't', 'r', 'a', 'i', 't', 'd', 'r'};

class ServerCore final : public Core {
 public:
  ServerCore(asio::any_io_executor ex, H2Limits limits, Handler handler, RefusalSink sink)
      : Core(std::move(ex), limits, std::move(sink), /*server=*/true),
        handler_(std::move(handler)) {}

  bool start() { return init(); }

  void drain() override {
    if (draining_ || dead_ || !ng_) return;
    draining_ = true;
    drain_at_ = now();
    // A notice first (last id 2^31-1): requests in flight towards us still get served. The
    // final GOAWAY follows the PING's answer, one round trip later.
    nghttp2_submit_shutdown_notice(ng_);
    nghttp2_submit_ping(ng_, NGHTTP2_FLAG_NONE, kDrainPing);
    wake();
  }

  std::size_t open_streams() const override { return streams_.size(); }

 private:
  struct Stream {
    RequestHead head;
    HeaderList trailers;
    std::size_t header_bytes = 0;
    bool too_large = false;
    bool in_trailers = false;
    std::string cookies;
    // Request body: we produce, the handler consumes (and owns it: weak here).
    std::weak_ptr<BodyPipe> req;
    bool has_req = false;
    std::shared_ptr<std::size_t> unconsumed = std::make_shared<std::size_t>(0);
    // Response body: the handler's side produces, we consume.
    Body resp;
    bool responded = false;
  };

  Stream* find(std::int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : &it->second;
  }

  int on_begin_headers(const nghttp2_frame* frame) override {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      Stream s;
      s.head.version = HttpVersion::kHttp2;
      streams_.emplace(frame->hd.stream_id, std::move(s));
    } else if (Stream* s = find(frame->hd.stream_id)) {
      s->in_trailers = true;
      s->header_bytes = 0;
    }
    return 0;
  }

  int on_header(const nghttp2_frame* frame, std::string_view name,
                std::string_view value) override {
    Stream* s = find(frame->hd.stream_id);
    if (!s || s->too_large) return 0;  // keep decoding: the HPACK state must stay in step
    s->header_bytes += field_size(name, value);
    if (s->header_bytes > limits_.max_header_list_bytes) {
      s->too_large = true;
      if (s->in_trailers) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM
      return 0;  // answered 431 when the block ends
    }
    if (s->in_trailers) {
      if (!name.empty() && name[0] != ':') s->trailers.emplace_back(name, value);
      return 0;
    }
    RequestHead& h = s->head;
    if (!name.empty() && name[0] == ':') {
      if (name == ":method") {
        h.method = value;
      } else if (name == ":scheme") {
        h.scheme = value;
      } else if (name == ":authority") {
        h.authority = value;
      } else if (name == ":path") {
        h.path = value;
      }
      return 0;
    }
    if (name == "te") {
      if (value == "trailers") h.te_trailers = true;
      return 0;
    }
    if (name == "host") {
      if (h.authority.empty()) h.authority = value;
      return 0;
    }
    if (name == "cookie") {  // HTTP/2 may split the cookie; HTTP/1 wants one field
      if (!s->cookies.empty()) s->cookies += "; ";
      s->cookies += value;
      return 0;
    }
    if (is_connection_specific(name)) return 0;
    h.fields.emplace_back(name, value);
    return 0;
  }

  int on_frame(const nghttp2_frame* frame) override {
    const std::int32_t id = frame->hd.stream_id;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        Stream* s = find(id);
        if (!s) return 0;
        const bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
          request_ready(id, *s, end);
        } else if (s->in_trailers && end) {
          if (auto req = s->req.lock()) req->finish(std::move(s->trailers));
        }
        return 0;
      }
      case NGHTTP2_DATA:
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
          if (Stream* s = find(id)) {
            if (auto req = s->req.lock()) req->finish();
          }
        }
        return 0;
      case NGHTTP2_RST_STREAM:
        count_reset();
        return 0;
      case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) && draining_ &&
            std::equal(std::begin(kDrainPing), std::end(kDrainPing), frame->ping.opaque_data)) {
          final_goaway();
        }
        return 0;
      default:
        return 0;
    }
  }

  void final_goaway() {
    if (final_goaway_sent_ || !ng_) return;
    final_goaway_sent_ = true;
    nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    wake();
  }

  void count_reset() {
    const auto t = now();
    resets_.push_back(t);
    while (!resets_.empty() && t - resets_.front() > limits_.reset_window) resets_.pop_front();
    if (resets_.size() > limits_.max_resets_per_window && !terminating_) {
      refuse("too_many_resets", std::to_string(resets_.size()) + " RST_STREAM within " +
                                    std::to_string(limits_.reset_window.count()) + " ms");
      terminate(NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }

  // The request's head is complete: hand it to the handler (after this feed, outside nghttp2).
  void request_ready(std::int32_t id, Stream& s, bool end_stream) {
    if (s.too_large) {
      refuse("headers_too_large", "request header list over " +
                                      std::to_string(limits_.max_header_list_bytes) + " bytes");
      ready_.push_back({id, std::nullopt});
      return;
    }
    if (!s.cookies.empty()) s.head.fields.emplace_back("cookie", std::move(s.cookies));
    Request req;
    req.head = std::move(s.head);
    if (!end_stream) {
      auto body = std::make_shared<BodyPipe>(ex_, limits_.initial_stream_window);
      std::weak_ptr<Core> weak = weak_from_this();
      auto unconsumed = s.unconsumed;
      body->on_consumed([weak, id, unconsumed](std::size_t n) {
        *unconsumed -= std::min(*unconsumed, n);
        if (auto c = weak.lock()) static_cast<ServerCore*>(c.get())->defer_consume(id, n);
      });
      body->on_cancel([weak, id, unconsumed] {
        // The handler gave up on the body: give back what it held; later DATA is dropped.
        const std::size_t n = std::exchange(*unconsumed, 0);
        if (auto c = weak.lock()) static_cast<ServerCore*>(c.get())->defer_consume(id, n);
      });
      s.req = body;
      s.has_req = true;
      req.body = std::move(body);
    }
    ready_.push_back({id, std::move(req)});
  }

  void after_feed() override {
    if (ready_.empty()) return;
    auto ready = std::move(ready_);
    ready_.clear();
    std::weak_ptr<Core> weak = weak_from_this();
    for (auto& [id, req] : ready) {
      if (!req) {
        respond(id, local_response(ex_, 431, "headers_too_large"));
        continue;
      }
      if (!find(id)) {  // reset before its handler started
        if (req->body) req->body->abort("reset");
        continue;
      }
      asio::co_spawn(ex_, run_handler(weak, id, handler_, std::move(*req), ex_), asio::detached);
    }
  }

  static asio::awaitable<void> run_handler(std::weak_ptr<Core> weak, std::int32_t id,
                                           Handler handler, Request req, asio::any_io_executor ex) {
    std::optional<Response> resp;
    std::string what;
    if (handler) {
      try {
        resp = co_await handler(std::move(req));
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
        what = "unknown exception";
      }
    } else {
      what = "no handler";
    }
    if (!resp) resp = local_response(ex, 502, "handler_error");
    if (auto c = weak.lock()) {
      auto* self = static_cast<ServerCore*>(c.get());
      if (!what.empty()) self->refuse("handler_error", what);
      self->respond(id, std::move(*resp));
    } else if (resp->body) {
      resp->body->cancel("connection_closed");
    }
  }

  void respond(std::int32_t id, Response resp) {
    Stream* s = find(id);
    if (dead_ || !s || s->responded) {
      if (resp.body) resp.body->cancel("reset");
      return;
    }
    s->responded = true;
    unsigned status = resp.head.status;
    if (status < 200 || status > 999) status = 502;
    const bool no_body = s->head.method == "HEAD" || status == 204 || status == 304;
    if (no_body && resp.body) {
      resp.body->cancel("no_body");
      resp.body.reset();
    }
    const std::string status_text = std::to_string(status);
    NvList nv;
    nv.add(":status", status_text);
    nv.add_fields(resp.head.fields);
    nghttp2_data_provider prd = body_provider();
    if (resp.body) {
      std::weak_ptr<Core> weak = weak_from_this();
      resp.body->on_readable([weak, id] {
        if (auto c = weak.lock()) static_cast<ServerCore*>(c.get())->defer_resume(id);
      });
      s->resp = resp.body;
    }
    const int rv =
        nghttp2_submit_response(ng_, id, nv.data(), nv.size(), resp.body ? &prd : nullptr);
    if (rv != 0) {
      if (s->resp) s->resp->cancel("reset");
      s->resp.reset();
      defer_rst(id, NGHTTP2_INTERNAL_ERROR);
    }
    wake();
  }

  ssize_t on_read_body(std::int32_t id, std::uint8_t* buf, std::size_t len,
                       std::uint32_t* flags) override {
    Stream* s = find(id);
    return pull_body(ng_, id, s ? s->resp.get() : nullptr, buf, len, flags);
  }

  int on_data(std::int32_t id, const std::uint8_t* data, std::size_t n) override {
    Stream* s = find(id);
    std::shared_ptr<BodyPipe> req = s ? s->req.lock() : nullptr;
    if (!req || req->cancelled() || req->done()) {
      // Nobody reads it: give the window back at once (and what an abandoned pipe held).
      std::size_t give = n;
      if (s && !req) give += std::exchange(*s->unconsumed, 0);
      defer_consume(id, give);
      return 0;
    }
    *s->unconsumed += n;
    req->push(std::string(reinterpret_cast<const char*>(data), n));
    return 0;
  }

  void on_sent(const nghttp2_frame* frame) override {
    // A complete response while the client is still sending a body nobody will read: ask it
    // to stop (RFC 9113 8.1: RST_STREAM NO_ERROR).
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      return;
    }
    const std::int32_t id = frame->hd.stream_id;
    Stream* s = find(id);
    if (!s || nghttp2_session_get_stream_remote_close(ng_, id) != 0) return;
    auto req = s->req.lock();
    if (s->too_large || !s->has_req || !req || req->cancelled()) defer_rst(id, NGHTTP2_NO_ERROR);
  }

  int on_close(std::int32_t id, std::uint32_t /*code*/) override {
    auto it = streams_.find(id);
    if (it == streams_.end()) return 0;
    Stream& s = it->second;
    auto req = s.req.lock();
    if (req && !req->done()) req->abort("reset");
    if (!req || req->cancelled() || req->drained() || (req->done() && req->buffered() == 0)) {
      defer_consume(id, std::exchange(*s.unconsumed, 0));
    }
    if (s.resp && !s.resp->drained()) s.resp->cancel("reset");
    streams_.erase(it);
    return 0;
  }

  void on_lost(std::string_view why) override {
    const std::string reason = why.empty() ? "connection_lost" : std::string(why);
    for (auto& [id, s] : streams_) {
      if (auto req = s.req.lock()) req->abort("connection_lost");
      if (s.resp && !s.resp->drained()) s.resp->cancel("connection_lost");
    }
    streams_.clear();
    for (auto& [id, req] : ready_) {
      if (req && req->body) req->body->abort("connection_lost");
    }
    ready_.clear();
  }

  Handler handler_;
  std::unordered_map<std::int32_t, Stream> streams_;
  std::vector<std::pair<std::int32_t, std::optional<Request>>> ready_;
  std::deque<Clock::time_point> resets_;
  bool final_goaway_sent_ = false;

  // The drain's final GOAWAY when no PING answer came within a second.
  void on_timer(Clock::time_point t) override {
    if (draining_ && !final_goaway_sent_ && t - drain_at_ > std::chrono::seconds(1)) {
      final_goaway();
    }
  }
};

}  // namespace

std::shared_ptr<Core> make_server_core(asio::any_io_executor ex, H2Limits limits, Handler handler,
                                       RefusalSink sink) {
  auto core =
      std::make_shared<ServerCore>(std::move(ex), limits, std::move(handler), std::move(sink));
  if (!core->start()) return nullptr;
  return core;
}

}  // namespace strait::proxy::http::h2
