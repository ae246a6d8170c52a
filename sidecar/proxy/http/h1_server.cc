// The HTTP/1.x server session (see h1_session.h): one exchange at a time on a client
// connection. The session coroutine reads a head, runs the handler and writes the response; a
// second coroutine, the connection reader, reads the request body into its pipe and then
// watches the connection (client gone, pipelined bytes) until the response is written. Only
// one of them touches the read buffer at a time: the session waits for the reader to end
// before it parses the next head.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <exception>
#include <variant>

#include "sidecar/proxy/http/h1_body.h"
#include "sidecar/proxy/http/h1_session.h"

namespace strait::proxy::http {
namespace asio = boost::asio;
using namespace h1;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr auto kDrainPoll = std::chrono::milliseconds(500);  // see H1Limits::draining
constexpr std::size_t kWriteBatch = 64 * 1024;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// The message model's view of a request head: lowercased names, Host as the authority (or the
// absolute-form target's), the framing Content-Length put back as a field.
RequestHead to_request_head(const Http1Head& h) {
  RequestHead r;
  r.method = h.method;
  r.version = h.version == 10 ? HttpVersion::kHttp10 : HttpVersion::kHttp11;
  r.scheme = "http";
  r.expect_continue = h.expect_continue;
  r.te_trailers = h.te_trailers;
  r.fields = lowered(h.fields);
  const std::string host(find_field(r.fields, "host").value_or(""));
  remove_field(r.fields, "host");
  const std::string_view target = h.target;
  const auto scheme_end = target.find("://");
  const std::string_view scheme =
      scheme_end == std::string_view::npos ? "" : target.substr(0, scheme_end);
  if (iequal(h.method, "CONNECT")) {
    r.authority = h.target;
  } else if (iequal(scheme, "http") || iequal(scheme, "https")) {
    r.scheme = iequal(scheme, "https") ? "https" : "http";
    std::string_view rest = target.substr(scheme_end + 3);
    const auto end = std::min(rest.find_first_of("/?#"), rest.size());
    std::string_view authority = rest.substr(0, end);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
      authority.remove_prefix(at + 1);  // userinfo is not forwarded
    }
    r.authority = std::string(authority);
    std::string_view path = rest.substr(end);
    if (const auto hash = path.find('#'); hash != std::string_view::npos)
      path = path.substr(0, hash);
    r.path = path.empty() || path.front() != '/' ? "/" + std::string(path) : std::string(path);
  } else {
    r.path = h.target;
    r.authority = host;
  }
  if (h.framing == BodyFraming::kLength) {
    r.fields.emplace_back("content-length", std::to_string(h.content_length));
  }
  return r;
}

class ServerSession {
 public:
  ServerSession(AnyStream& s, std::string prefix, H1Limits lim, Handler handler, RefusalSink sink,
                asio::any_io_executor ex)
      : s_(s),
        buf_(std::move(prefix)),
        lim_(lim),
        handler_(std::move(handler)),
        sink_(std::move(sink)),
        ex_(ex),
        reader_done_(ex, asio::steady_timer::time_point::max()),
        stop_watch_(ex, asio::steady_timer::time_point::max()) {}

  asio::awaitable<H1ServeResult> run();

 private:
  enum class CloseMode { kNone, kLinger, kNow, kAbort };
  enum class Written { kKeep, kClose, kFailed };

  asio::awaitable<std::optional<Http1Head>> read_head(bool first, H1ServeResult& r);
  asio::awaitable<bool> exchange(const Http1Head& head, H1ServeResult& r);
  asio::awaitable<Written> write_response(const Http1Head& req, Response resp, H1ServeResult& r);
  asio::awaitable<void> refuse(const HeadRefusal& no);

  void start_reader(BodyFraming framing, std::uint64_t length, Body body);
  asio::awaitable<void> connection_reader(BodyFraming framing, std::uint64_t length, Body body);
  asio::awaitable<bool> read_body(BodyFraming framing, std::uint64_t length, Body body);
  asio::awaitable<void> watch();
  void stop_reader();
  asio::awaitable<void> join_reader();
  void client_gone();

  void report(std::string_view reason, std::string_view detail) {
    if (sink_) sink_(reason, detail);
  }
  void end(H1ServeResult& r, H1ServeResult::End e, std::string reason, CloseMode mode) {
    r.end = e;
    r.reason = std::move(reason);
    close_ = mode;
  }

  AnyStream& s_;
  std::string buf_;  // bytes read and not yet parsed
  const H1Limits lim_;
  Handler handler_;
  RefusalSink sink_;
  asio::any_io_executor ex_;
  CloseMode close_ = CloseMode::kLinger;

  bool peer_eof_ = false;     // the client half-closed: no request after those buffered
  bool client_gone_ = false;  // a read failed: nothing more can be written either
  bool must_close_ = false;   // this exchange leaves the connection unusable

  // The connection reader.
  bool reader_running_ = false;
  bool stop_requested_ = false;
  asio::steady_timer reader_done_;  // cancelled when the reader ends
  asio::steady_timer stop_watch_;   // cancelled to stop the watch
  std::optional<std::pair<H1ServeResult::End, std::string>> reader_end_;
  PipeConsumer* resp_consumer_ = nullptr;  // the response being written, to stop it
};

asio::awaitable<H1ServeResult> ServerSession::run() {
  H1ServeResult r;
  bool first = true;
  while (true) {
    auto head = co_await read_head(first, r);
    if (!head) break;
    first = false;
    buf_.erase(0, head->head_size);
    const bool connect = iequal(head->method, "CONNECT");
    if (connect || head->upgrade) {
      H1Upgrade u;
      u.kind = connect ? H1Upgrade::Kind::kConnect : H1Upgrade::Kind::kUpgrade;
      u.head = to_request_head(*head);
      u.protocol = connect ? "" : head->upgrade_protocol;
      u.head_bytes = serialize(*head);
      u.leftover = std::move(buf_);
      end(r, H1ServeResult::End::kUpgrade, connect ? "connect" : "upgrade", CloseMode::kNone);
      r.upgrade = std::move(u);
      co_return r;
    }
    ++r.requests;
    if (!co_await exchange(*head, r)) break;
  }
  switch (close_) {
    case CloseMode::kNone:
      break;
    case CloseMode::kLinger:
      co_await lingering_close(s_, lim_.max_drain_bytes, lim_.drain_timeout);
      break;
    case CloseMode::kNow:
      s_.close();
      break;
    case CloseMode::kAbort:
      abortive_close(s_);
      break;
  }
  co_return r;
}

asio::awaitable<std::optional<Http1Head>> ServerSession::read_head(bool first, H1ServeResult& r) {
  using End = H1ServeResult::End;
  if (buf_.empty() && !first) {
    if (peer_eof_) {
      end(r, End::kClosed, "closed", CloseMode::kNow);
      co_return std::nullopt;
    }
    const auto idle_deadline = Clock::now() + lim_.idle_timeout;
    auto draining = [&] { return lim_.draining && *lim_.draining; };
    ReadOutcome o;
    while (true) {
      // With a drain flag, the wait is cut into slices so that a drain ends it soon.
      const auto slice =
          lim_.draining ? std::min(idle_deadline, Clock::now() + kDrainPoll) : idle_deadline;
      o = co_await read_until(s_, buf_, kReadChunk, slice);
      if (o.n > 0 || !o.timed_out || Clock::now() >= idle_deadline || draining()) break;
    }
    if (o.n == 0 && o.timed_out && draining()) {
      end(r, End::kClosed, "draining", CloseMode::kNow);
      co_return std::nullopt;
    }
    if (o.n == 0) {
      if (o.timed_out) {
        end(r, End::kTimeout, "idle_timeout", CloseMode::kNow);
      } else if (o.ec == asio::error::eof) {
        end(r, End::kClosed, "closed", CloseMode::kNow);
      } else {
        end(r, End::kError, io_error_name(o.ec), CloseMode::kNow);
      }
      co_return std::nullopt;
    }
  }
  // The first request: from the start of the session; later ones: from their first byte.
  const auto deadline = Clock::now() + lim_.header_timeout;
  while (true) {
    auto parsed = parse_request_head(buf_, lim_.max_head_bytes);
    if (auto* h = std::get_if<Http1Head>(&parsed)) co_return std::move(*h);
    if (auto* no = std::get_if<HeadRefusal>(&parsed)) {
      co_await refuse(*no);
      end(r, End::kRefused, no->reason, CloseMode::kLinger);
      co_return std::nullopt;
    }
    if (peer_eof_) {
      end(r, End::kClosed, buf_.empty() ? "closed" : "truncated_head", CloseMode::kNow);
      co_return std::nullopt;
    }
    auto o = co_await read_until(s_, buf_, kReadChunk, deadline);
    if (o.n > 0 && !o.ec) continue;
    if (o.ec == asio::error::eof) {
      peer_eof_ = true;
      continue;  // parse what came, then end
    }
    if (o.n > 0) continue;  // bytes with the deadline: one more parse, then it times out
    if (o.timed_out) {
      report("header_timeout", "the request head was not complete within " +
                                   std::to_string(lim_.header_timeout.count()) + " ms");
      end(r, End::kTimeout, "header_timeout", CloseMode::kNow);
    } else {
      end(r, End::kError, io_error_name(o.ec), CloseMode::kNow);
    }
    co_return std::nullopt;
  }
}

asio::awaitable<void> ServerSession::refuse(const HeadRefusal& no) {
  report(no.reason, no.detail);
  const std::string body = no.reason + "\n";
  std::string out =
      "HTTP/1.1 " + std::to_string(no.status) + " " +
      reason_phrase(static_cast<unsigned>(no.status)) +
      "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n" + std::string(kProxyErrorField) + ": " + no.reason + "\r\n\r\n" +
      body;
  co_await write_within(s_, out, lim_.body_timeout);
}

asio::awaitable<bool> ServerSession::exchange(const Http1Head& head, H1ServeResult& r) {
  using End = H1ServeResult::End;
  must_close_ = false;
  reader_end_.reset();
  Request req;
  req.head = to_request_head(head);
  if (head.framing != BodyFraming::kNone) {
    req.body = std::make_shared<BodyPipe>(ex_, lim_.body_window);
  }
  Body req_body = req.body;
  if (head.expect_continue && head.version == 11) {
    if (auto ec = co_await write_within(s_, "HTTP/1.1 100 Continue\r\n\r\n", lim_.body_timeout)) {
      if (req_body) req_body->abort("client_gone");
      end(r, End::kError, io_error_name(ec), CloseMode::kNow);
      co_return false;
    }
  }
  start_reader(head.framing, head.content_length, req_body);

  Response resp;
  bool handler_failed = false;
  try {
    resp = co_await handler_(std::move(req));
  } catch (...) {  // a handler's bug must not take the connection's coroutine with it
    handler_failed = true;
  }
  if (handler_failed) {
    resp = local_response(ex_, 500, "handler_failed");
    must_close_ = true;
  }
  const Written w = co_await write_response(head, std::move(resp), r);
  // The exchange is over for the client: the rest of the request body is wanted no more (the
  // reader drains it, within bounds, to keep the connection).
  if (req_body && !req_body->done()) req_body->cancel("response_complete");
  stop_reader();
  co_await join_reader();
  if (w == Written::kFailed) co_return false;
  if (client_gone_) {
    end(r, End::kError, "client_gone", CloseMode::kNow);
    co_return false;
  }
  if (reader_end_) {
    end(r, reader_end_->first, reader_end_->second, CloseMode::kLinger);
    co_return false;
  }
  if (w == Written::kClose || must_close_) {
    end(r, End::kClosed, "closed", CloseMode::kLinger);
    co_return false;
  }
  co_return true;
}

asio::awaitable<ServerSession::Written> ServerSession::write_response(const Http1Head& req,
                                                                      Response resp,
                                                                      H1ServeResult& r) {
  using End = H1ServeResult::End;
  Http1Head h;
  h.is_request = false;
  h.status = resp.head.status;
  h.reason = resp.head.reason.empty() ? reason_phrase(h.status) : resp.head.reason;
  h.version = req.version == 10 ? 10 : 11;
  for (const auto& [n, v] : resp.head.fields) {
    if (!is_hop_by_hop(n)) h.fields.emplace_back(n, v);
  }
  const bool chunk_ok = h.version == 11;
  const bool trailers_ok = chunk_ok && req.te_trailers;
  const bool no_body =
      h.status < 200 || h.status == 204 || h.status == 304 || iequal(req.method, "HEAD");
  const auto length = parse_length(find_field(h.fields, "content-length").value_or(""));
  bool keep =
      req.keep_alive && !must_close_ && h.status >= 200 && !(lim_.draining && *lim_.draining);
  Body body = std::move(resp.body);
  std::string out;      // bytes to write next
  std::string inline_;  // a complete body, written with the head
  if (no_body) {
    // A HEAD or 304 response keeps the Content-Length of the body it stands for.
    if (h.status < 200 || h.status == 204) remove_field(h.fields, "content-length");
    h.framing = BodyFraming::kNone;
    if (body) body->cancel("no_body");
    body = nullptr;
  } else {
    remove_field(h.fields, "content-length");
    if (length) {
      h.framing = BodyFraming::kLength;
      h.content_length = *length;
    } else if (!body) {
      h.framing = BodyFraming::kLength;
      h.content_length = 0;
    } else if (body->done()) {
      // Everything is there already: a length instead of chunks (unless trailers must go).
      HeaderList trailers;
      const bool failed = !take_complete(*body, inline_, trailers);
      body = nullptr;
      if (failed) {  // nothing written yet: say so instead
        h.status = 502;
        h.reason = reason_phrase(502);
        h.fields = {{"content-type", "text/plain"},
                    {std::string(kProxyErrorField), "response_body_aborted"}};
        inline_.clear();
        keep = false;
      }
      if (!trailers.empty() && trailers_ok) {
        h.framing = BodyFraming::kChunked;
        inline_ = encode_chunk(inline_) + encode_last_chunk(trailers);
      } else {
        h.framing = BodyFraming::kLength;
        h.content_length = inline_.size();
      }
    } else if (chunk_ok) {
      h.framing = BodyFraming::kChunked;
    } else {
      h.framing = BodyFraming::kUntilClose;
      keep = false;
    }
  }
  h.keep_alive = keep;
  out = serialize(h) + inline_;

  auto fail = [&](std::string reason, CloseMode mode) {
    end(r, End::kError, std::move(reason), mode);
    if (mode == CloseMode::kAbort) {
      abortive_close(s_);
    } else {
      s_.close();  // also ends the connection reader's read
    }
    return Written::kFailed;
  };
  if (client_gone_) {
    if (body) body->cancel("client_gone");
    co_return fail("client_gone", CloseMode::kNow);
  }
  if (!body) {
    if (co_await write_within(s_, out, lim_.body_timeout))
      co_return fail("client_gone", CloseMode::kNow);
    co_return keep ? Written::kKeep : Written::kClose;
  }

  BodyEncoder enc(h.framing, h.content_length);
  PipeConsumer pc(body, ex_);
  resp_consumer_ = &pc;
  struct Reset {
    PipeConsumer*& p;
    ~Reset() { p = nullptr; }
  } reset{resp_consumer_};
  while (true) {
    auto c = pc.try_next(kWriteBatch);
    if (!c) {
      // Nothing ready: what we have goes out now (the head too: a slow body must not hold
      // it back).
      if (!out.empty()) {
        if (co_await write_within(s_, out, lim_.body_timeout)) {
          body->cancel("client_gone");
          co_return fail("client_gone", CloseMode::kNow);
        }
        out.clear();
      }
      c = co_await pc.next(kWriteBatch);
      if (!c) {  // stopped: the client went away
        body->cancel("client_gone");
        co_return fail("client_gone", CloseMode::kNow);
      }
    }
    switch (c->kind) {
      case BodyPipe::Chunk::Kind::kData:
        if (!enc.data(c->data, out)) {
          body->cancel("too_long");
          co_await write_within(s_, out, lim_.body_timeout);
          co_return fail("response_body_too_long", CloseMode::kNow);
        }
        if (out.size() >= kWriteBatch) {
          if (co_await write_within(s_, out, lim_.body_timeout)) {
            body->cancel("client_gone");
            co_return fail("client_gone", CloseMode::kNow);
          }
          out.clear();
        }
        break;
      case BodyPipe::Chunk::Kind::kEnd: {
        const bool complete = enc.end(trailers_ok ? c->trailers : HeaderList{}, out);
        const bool wrote = !co_await write_within(s_, out, lim_.body_timeout);
        if (!complete) co_return fail("response_body_short", CloseMode::kNow);
        if (!wrote) co_return fail("client_gone", CloseMode::kNow);
        co_return keep ? Written::kKeep : Written::kClose;
      }
      case BodyPipe::Chunk::Kind::kError:
        // What came before the error goes out; the end never does.
        co_await write_within(s_, out, lim_.body_timeout);
        co_return fail("response_body_aborted",
                       h.framing == BodyFraming::kUntilClose ? CloseMode::kAbort : CloseMode::kNow);
    }
  }
}

// ---- the connection reader

void ServerSession::start_reader(BodyFraming framing, std::uint64_t length, Body body) {
  reader_running_ = true;
  stop_requested_ = false;
  asio::co_spawn(ex_, connection_reader(framing, length, body), [this, body](std::exception_ptr e) {
    if (e) {
      must_close_ = true;
      if (body) body->abort("internal_error");
    }
    reader_running_ = false;
    reader_done_.cancel();
  });
}

asio::awaitable<void> ServerSession::connection_reader(BodyFraming framing, std::uint64_t length,
                                                       Body body) {
  // (No co_await inside a && condition: GCC 12 miscompiles it.)
  if (body) {
    const bool complete = co_await read_body(framing, length, body);
    if (!complete) co_return;
  }
  co_await watch();
}

asio::awaitable<bool> ServerSession::read_body(BodyFraming framing, std::uint64_t length,
                                               Body body) {
  using End = H1ServeResult::End;
  BodyDecoder dec(framing, length, lim_.max_trailer_bytes);
  PipeProducer producer(body, ex_);
  std::size_t drained = 0;
  std::optional<Clock::time_point> drain_deadline;
  while (true) {
    std::string data;
    if (auto ok = dec.take(buf_, data); !ok) {
      body->abort("bad_chunked_body");
      report("bad_chunked_body", ok.error().message);
      must_close_ = true;
      reader_end_ = {End::kRefused, "bad_chunked_body"};
      co_return false;
    }
    if (body->cancelled()) {
      drained += data.size();
      if (drained > lim_.max_drain_bytes) {
        must_close_ = true;
        co_return false;
      }
    } else {
      body->push(std::move(data));
    }
    if (dec.done()) {
      body->finish(dec.trailers());
      co_return true;
    }
    if (!body->cancelled() && !body->writable()) {
      co_await producer.wait_writable();  // the handler read some, or cancelled (drain)
      continue;
    }
    auto deadline = Clock::now() + lim_.body_timeout;
    if (body->cancelled()) {
      if (!drain_deadline) drain_deadline = Clock::now() + lim_.drain_timeout;
      deadline = std::min(deadline, *drain_deadline);
    }
    auto o = co_await read_until(s_, buf_, kReadChunk, deadline);
    if (o.n > 0) continue;  // an error with it shows again on the next read
    const bool draining = body->cancelled();
    std::string why;
    if (o.timed_out) {
      why = draining ? "drain_timeout" : "body_timeout";
      if (!draining) report("body_timeout", "no request body byte within the body timeout");
    } else if (o.ec == asio::error::eof) {
      why = "client_closed";
      peer_eof_ = true;
    } else {
      why = "client_gone";
      client_gone();
    }
    body->abort(why);
    must_close_ = true;
    if (!draining) reader_end_ = {o.timed_out ? End::kTimeout : End::kError, why};
    co_return false;
  }
}

asio::awaitable<void> ServerSession::watch() {
  stop_watch_.expires_at(asio::steady_timer::time_point::max());
  while (!stop_requested_ && !peer_eof_ && !client_gone_ && buf_.size() < lim_.max_head_bytes) {
    auto o = co_await read_racing(s_, buf_, lim_.max_head_bytes - buf_.size(), stop_watch_);
    if (o.timed_out) break;  // stopped; bytes that came with it are kept
    if (o.ec == asio::error::eof) {
      peer_eof_ = true;
    } else if (o.ec) {
      client_gone();
    }
  }
}

void ServerSession::client_gone() {
  client_gone_ = true;
  if (resp_consumer_) resp_consumer_->stop();
}

void ServerSession::stop_reader() {
  stop_requested_ = true;
  stop_watch_.cancel();
}

asio::awaitable<void> ServerSession::join_reader() {
  while (reader_running_) {
    reader_done_.expires_at(asio::steady_timer::time_point::max());
    co_await reader_done_.async_wait(kTuple);
  }
}

}  // namespace

asio::awaitable<H1ServeResult> H1Server::serve(AnyStream& stream, std::string prefix,
                                               H1Limits limits, Handler handler, RefusalSink sink) {
  auto ex = co_await asio::this_coro::executor;
  ServerSession session(stream, std::move(prefix), limits, std::move(handler), std::move(sink), ex);
  co_return co_await session.run();
}

}  // namespace strait::proxy::http
