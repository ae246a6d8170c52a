// The sans-I/O HTTP/2 connection core shared by server and client (see h2_core.h): nghttp2
// session setup, callback trampolines, deferred work, and the connection's timers.
#include "sidecar/proxy/http/h2_core.h"

#include <algorithm>
#include <cctype>

namespace strait::proxy::http::h2 {

namespace {
Core* self(void* user_data) { return static_cast<Core*>(user_data); }
std::string_view sv(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}
}  // namespace

// The trampolines: nghttp2's C callbacks into the role's virtual methods.
struct Core::Callbacks {
  static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* u) {
    return self(u)->on_begin_headers(frame);
  }
  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                    std::uint8_t /*flags*/, void* u) {
    return self(u)->on_header(frame, sv(name, namelen), sv(value, valuelen));
  }
  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* u) {
    Core* c = self(u);
    switch (frame->hd.type) {
      case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) c->handshake_done_ = true;
        break;
      case NGHTTP2_GOAWAY:
        c->goaway_received_ = true;
        c->goaway_last_id_ = frame->goaway.last_stream_id;
        break;
      default:
        break;
    }
    return c->on_frame(frame);
  }
  static int data_chunk(nghttp2_session*, std::uint8_t /*flags*/, std::int32_t id,
                        const std::uint8_t* data, std::size_t len, void* u) {
    return self(u)->on_data(id, data, len);
  }
  static int stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* u) {
    return self(u)->on_close(id, code);
  }
  static int frame_send(nghttp2_session*, const nghttp2_frame* frame, void* u) {
    Core* c = self(u);
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR &&
        !c->terminating_) {
      // nghttp2 itself ends the connection: the peer broke the protocol.
      std::string detail = c->last_error_.empty()
                               ? std::string(nghttp2_http2_strerror(frame->goaway.error_code))
                               : c->last_error_;
      c->refuse("h2_protocol_error", detail);
      c->terminating_ = true;
      c->terminate_at_ = c->now();
    }
    c->on_sent(frame);
    return 0;
  }
  static int frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* u) {
    self(u)->on_not_sent(frame, lib_error);
    return 0;
  }
  static int error(nghttp2_session*, int /*lib_error*/, const char* msg, std::size_t len, void* u) {
    self(u)->last_error_.assign(msg, std::min<std::size_t>(len, 200));
    return 0;
  }
  static int invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* u) {
    // Stream-level refusals (connection-level ones are reported with their GOAWAY).
    Core* c = self(u);
    const std::string detail =
        "stream " + std::to_string(frame->hd.stream_id) + ": " +
        (c->last_error_.empty() ? nghttp2_strerror(lib_error) : c->last_error_);
    if (lib_error == NGHTTP2_ERR_HTTP_MESSAGING || lib_error == NGHTTP2_ERR_HTTP_HEADER) {
      c->refuse(c->server_ ? "bad_request" : "bad_response", detail);
    } else if (lib_error == NGHTTP2_ERR_REFUSED_STREAM) {
      c->refuse("too_many_streams", detail);
    }
    return 0;
  }
  static ssize_t read_body(nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source*, void* u) {
    return self(u)->on_read_body(id, buf, length, flags);
  }
};

Core::Core(boost::asio::any_io_executor ex, H2Limits limits, RefusalSink sink, bool server)
    : ex_(std::move(ex)),
      limits_(limits),
      sink_(std::move(sink)),
      server_(server),
      started_(Clock::now()),
      last_activity_(started_) {}

Core::~Core() {
  if (ng_) nghttp2_session_del(ng_);
}

bool Core::init() {
  nghttp2_session_callbacks* cbs = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Callbacks::frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, &Callbacks::frame_not_send);
  nghttp2_session_callbacks_set_error_callback2(cbs, &Callbacks::error);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, &Callbacks::invalid_frame);

  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cbs);
    return false;
  }
  // Window updates follow BodyPipe consumption (nghttp2_session_consume), not reception.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, limits_.header_table_bytes);
  nghttp2_option_set_max_send_header_block_length(
      opt, std::max<std::size_t>(64 * 1024, 2 * std::size_t{limits_.max_header_list_bytes}));
  const int rv = server_ ? nghttp2_session_server_new2(&ng_, cbs, this, opt)
                         : nghttp2_session_client_new2(&ng_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) {
    ng_ = nullptr;
    return false;
  }

  std::vector<nghttp2_settings_entry> iv = {
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, limits_.header_table_bytes},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_bytes},
  };
  if (server_) {
    iv.push_back({NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams});
  } else {
    iv.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  }
  if (nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, iv.data(), iv.size()) != 0) return false;
  if (limits_.connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) {
    nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0,
                                          static_cast<std::int32_t>(std::min<std::uint32_t>(
                                              limits_.connection_window, NGHTTP2_MAX_WINDOW_SIZE)));
  }
  return true;
}

nghttp2_data_provider Core::body_provider() {
  nghttp2_data_provider p{};
  p.source.ptr = nullptr;
  p.read_callback = &Callbacks::read_body;
  return p;
}

void Core::wake() {
  if (wake_) wake_();
}

void Core::defer_consume(std::int32_t id, std::size_t n) {
  if (n == 0 || dead_) return;
  consume_.emplace_back(id, n);
  wake();
}
void Core::defer_resume(std::int32_t id) {
  if (dead_) return;
  resume_.push_back(id);
  wake();
}
void Core::defer_rst(std::int32_t id, std::uint32_t code) {
  if (dead_) return;
  rst_.emplace_back(id, code);
  wake();
}

void Core::flush_deferred() {
  if (!ng_) return;
  // Swap first: nothing below calls back into us, but keep it robust anyway.
  auto consume = std::move(consume_);
  auto resume = std::move(resume_);
  auto rst = std::move(rst_);
  consume_.clear();
  resume_.clear();
  rst_.clear();
  for (auto [id, n] : consume) nghttp2_session_consume(ng_, id, n);
  for (auto id : resume) nghttp2_session_resume_data(ng_, id);  // not deferred: ignored
  for (auto [id, code] : rst) nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, id, code);
}

void Core::refuse(std::string_view reason, std::string_view detail) {
  if (sink_) sink_(reason, detail);
}

void Core::terminate(std::uint32_t code) {
  if (terminating_ || dead_ || !ng_) return;
  terminating_ = true;
  terminate_at_ = now();
  nghttp2_session_terminate_session(ng_, code);
  wake();
}

bool Core::feed(const std::uint8_t* data, std::size_t n) {
  if (dead_ || !ng_) return false;
  if (n == 0) return true;
  last_activity_ = now();
  const ssize_t rv = nghttp2_session_mem_recv(ng_, data, n);
  if (rv < 0) {
    // Fatal: bad client magic, flooding, out of memory. nghttp2 sends nothing more.
    if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC) bad_preface_ = true;
    std::string detail = nghttp2_strerror(static_cast<int>(rv));
    if (!last_error_.empty()) detail += ": " + last_error_;
    refuse("h2_protocol_error", detail);
    abort_connection(detail);
    return false;
  }
  after_feed();
  wake();
  return true;
}

std::string Core::take_output(std::size_t max) {
  std::string out;
  if (dead_ || !ng_) return out;
  while (out.size() < max) {
    flush_deferred();
    const std::uint8_t* p = nullptr;
    const ssize_t n = nghttp2_session_mem_send(ng_, &p);
    if (n < 0) {
      refuse("h2_protocol_error", nghttp2_strerror(static_cast<int>(n)));
      abort_connection(nghttp2_strerror(static_cast<int>(n)));
      return {};
    }
    if (n == 0) {
      if (has_deferred()) continue;  // the data providers queued more work
      break;
    }
    out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }
  if (!out.empty()) last_activity_ = now();
  return out;
}

bool Core::finished() const {
  if (dead_ || !ng_) return true;
  return !nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_) && !has_deferred();
}

void Core::connection_lost(std::string_view why) {
  if (dead_) return;
  dead_ = true;
  consume_.clear();
  resume_.clear();
  rst_.clear();
  on_lost(why);
  wake();
}

void Core::abort_connection(std::string_view why) {
  hard_close_ = true;
  connection_lost(why);
  wake();
}

Clock::duration Core::on_tick(Clock::time_point t) {
  using std::chrono::milliseconds;
  auto period = std::min({limits_.idle_timeout, limits_.handshake_timeout, limits_.close_grace,
                          limits_.drain_timeout}) /
                4;
  period = std::clamp(period, milliseconds(5), milliseconds(500));
  if (dead_) return period;
  on_timer(t);
  if (!handshake_done_ && t - started_ > limits_.handshake_timeout) {
    refuse("handshake_timeout", server_ ? "no client preface" : "no server settings");
    abort_connection("handshake_timeout");
    return period;
  }
  if (terminating_) {
    if (t - terminate_at_ > limits_.close_grace) abort_connection("close_timeout");
    return period;
  }
  if (draining_) {
    if (t - drain_at_ > limits_.drain_timeout) terminate(NGHTTP2_NO_ERROR);
    return period;
  }
  if (open_streams() == 0 && t - last_activity_ > limits_.idle_timeout) {
    terminate(NGHTTP2_NO_ERROR);
  }
  return period;
}

ssize_t pull_body(nghttp2_session* ng, std::int32_t id, BodyPipe* body, std::uint8_t* buf,
                  std::size_t len, std::uint32_t* flags) {
  if (!body) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  auto c = body->try_read(len);
  if (!c) return NGHTTP2_ERR_DEFERRED;  // on_readable resumes it
  switch (c->kind) {
    case BodyPipe::Chunk::Kind::kData:
      std::copy(c->data.begin(), c->data.end(), buf);
      return static_cast<ssize_t>(c->data.size());
    case BodyPipe::Chunk::Kind::kEnd:
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!c->trailers.empty()) {
        NvList nv;
        nv.add_fields(c->trailers);
        if (nghttp2_submit_trailer(ng, id, nv.data(), nv.size()) == 0) {
          *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
      }
      return 0;
    case BodyPipe::Chunk::Kind::kError:
      break;
  }
  return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the body failed: RST_STREAM
}

bool is_connection_specific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" || name == "te" || name == "host" ||
         name == "http2-settings";
}

void NvList::add(std::string_view name, std::string_view value) {
  nghttp2_nv nv{};
  nv.name = reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data()));
  nv.namelen = name.size();
  nv.value = reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data()));
  nv.valuelen = value.size();
  nv.flags = NGHTTP2_NV_FLAG_NONE;
  nv_.push_back(nv);
}

void NvList::add_fields(const HeaderList& fields) {
  for (const auto& [n, v] : fields) {
    if (n.empty() || n[0] == ':') continue;
    if (std::any_of(n.begin(), n.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      std::string low(n);
      for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (is_connection_specific(low)) continue;
      owned_.push_back(std::move(low));
      add(owned_.back(), v);
      continue;
    }
    if (is_connection_specific(n)) continue;
    add(n, v);
  }
}

}  // namespace strait::proxy::http::h2
