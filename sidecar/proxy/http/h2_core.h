// Internal to strait_http_h2: the sans-I/O core of one HTTP/2 connection over nghttp2. Bytes go
// in with feed() and out with take_output(); an I/O loop (run_io, h2_session.cc) or a fuzzer
// drives it. The base class owns the nghttp2 session, the settings, the connection timers and
// the deferred work; ServerCore (h2_server.cc) and ClientCore (h2_client.cc) own the streams.
//
// One rule keeps nghttp2 safe: it is never called from inside one of its own callbacks. The
// BodyPipe hooks (on_readable, on_consumed, on_cancel) can fire from anywhere, including from
// inside our callbacks, so they only record work (window to give back, a data provider to
// resume, a stream to reset) and wake the writer; take_output() applies it between calls.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/base/result.h"
#include "sidecar/proxy/http/h2_session.h"
#include "sidecar/proxy/http/message.h"

namespace strait::proxy::http::h2 {

using Clock = std::chrono::steady_clock;

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;
  virtual ~Core();

  // ---- driven by the I/O loop (or a fuzzer)
  // Feeds bytes read from the peer. False: the connection is dead (fatal protocol error).
  bool feed(const std::uint8_t* data, std::size_t n);
  // The next bytes to write, up to about `max` (deferred work applied first); empty: none due.
  std::string take_output(std::size_t max = 64 * 1024);
  // Nothing left to read or write: the connection may be closed.
  bool finished() const;
  // The transport should be closed at once (timeouts, fatal errors), without flushing.
  bool hard_close() const { return hard_close_; }
  bool dead() const { return dead_; }
  // The peer's first bytes were not an HTTP/2 client preface (nghttp2 answers nothing then).
  bool bad_preface() const { return bad_preface_; }
  // The transport ended (eof, error, close): everything in flight fails.
  void connection_lost(std::string_view why);
  // Timers (handshake, idle, drain, close grace); returns when to call again.
  Clock::duration on_tick(Clock::time_point now);
  // Called when output is due (the writer's kick); empty for a fuzzer.
  void set_wake(std::function<void()> f) { wake_ = std::move(f); }

  // ---- for the public classes
  virtual void drain() = 0;
  virtual std::size_t open_streams() const = 0;
  // Closes now: fails everything, the transport is closed.
  void abort_connection(std::string_view why);
  boost::asio::any_io_executor executor() const { return ex_; }
  const H2Limits& limits() const { return limits_; }

 protected:
  Core(boost::asio::any_io_executor ex, H2Limits limits, RefusalSink sink, bool server);
  // Creates the nghttp2 session and queues our SETTINGS. False: out of memory.
  bool init();
  void wake();
  // Deferred work (safe from anywhere, applied by take_output()).
  void defer_consume(std::int32_t id, std::size_t n);
  void defer_resume(std::int32_t id);
  void defer_rst(std::int32_t id, std::uint32_t code);
  void refuse(std::string_view reason, std::string_view detail);
  // GOAWAY with `code` (ours), close once it is flushed.
  void terminate(std::uint32_t code);
  Clock::time_point now() const { return Clock::now(); }

  // ---- role callbacks (return 0 or an nghttp2 error code, as nghttp2 wants)
  virtual int on_begin_headers(const nghttp2_frame* frame) = 0;
  virtual int on_header(const nghttp2_frame* frame, std::string_view name,
                        std::string_view value) = 0;
  virtual int on_frame(const nghttp2_frame* frame) = 0;
  virtual int on_data(std::int32_t id, const std::uint8_t* data, std::size_t n) = 0;
  virtual int on_close(std::int32_t id, std::uint32_t code) = 0;
  virtual ssize_t on_read_body(std::int32_t id, std::uint8_t* buf, std::size_t len,
                               std::uint32_t* flags) = 0;
  virtual void on_sent(const nghttp2_frame*) {}
  virtual void on_not_sent(const nghttp2_frame*, int /*lib_error*/) {}
  virtual void on_lost(std::string_view why) = 0;
  // After each feed, outside nghttp2 (the server starts its handlers here).
  virtual void after_feed() {}
  // Each on_tick, before the common timers.
  virtual void on_timer(Clock::time_point) {}

  // A data provider whose reads go to on_read_body().
  static nghttp2_data_provider body_provider();

  boost::asio::any_io_executor ex_;
  H2Limits limits_;
  RefusalSink sink_;
  const bool server_;
  nghttp2_session* ng_ = nullptr;
  bool dead_ = false;
  bool hard_close_ = false;
  bool handshake_done_ = false;  // the peer's first SETTINGS arrived
  bool terminating_ = false;     // we queued a closing GOAWAY
  bool draining_ = false;        // graceful drain started
  bool goaway_received_ = false;
  bool bad_preface_ = false;
  std::int32_t goaway_last_id_ = 0;
  Clock::time_point started_;
  Clock::time_point last_activity_;
  Clock::time_point terminate_at_{};
  Clock::time_point drain_at_{};
  std::string last_error_;  // nghttp2's last error text, for the refusal's detail

 private:
  struct Callbacks;
  void flush_deferred();
  bool has_deferred() const { return !consume_.empty() || !resume_.empty() || !rst_.empty(); }

  std::function<void()> wake_;
  std::vector<std::pair<std::int32_t, std::size_t>> consume_;
  std::vector<std::int32_t> resume_;
  std::vector<std::pair<std::int32_t, std::uint32_t>> rst_;
};

// The server side, for H2Server and the fuzzer: requests go to `handler`.
std::shared_ptr<Core> make_server_core(boost::asio::any_io_executor ex, H2Limits limits,
                                       Handler handler, RefusalSink sink);

// Header helpers shared by both sides.
// Connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2), plus te and host handled apart.
bool is_connection_specific(std::string_view name);
// Name/value views for nghttp2 (which copies them when a frame is submitted).
class NvList {
 public:
  void add(std::string_view name, std::string_view value);
  // The fields that may go on the wire: connection-specific ones dropped, names lowered.
  void add_fields(const HeaderList& fields);
  nghttp2_nv* data() { return nv_.data(); }
  std::size_t size() const { return nv_.size(); }

 private:
  std::deque<std::string> owned_;  // lowered names (stable addresses)
  std::vector<nghttp2_nv> nv_;
};
// An nghttp2 data provider's read for a stream whose body is `body` (null: none left): data,
// or the end (trailers submitted when there are some), or DEFERRED while the pipe is empty, or
// a temporal failure (RST_STREAM) when the producer failed. Both sides send bodies with it.
ssize_t pull_body(nghttp2_session* ng, std::int32_t id, BodyPipe* body, std::uint8_t* buf,
                  std::size_t len, std::uint32_t* flags);
// RFC 9113 size of one field for SETTINGS_MAX_HEADER_LIST_SIZE.
inline std::size_t field_size(std::string_view n, std::string_view v) {
  return n.size() + v.size() + 32;
}

// The client side of H2Client.
class ClientCore final : public Core {
 public:
  static std::shared_ptr<ClientCore> create(boost::asio::any_io_executor ex,
                                            std::unique_ptr<AnyStream> stream, H2Limits limits,
                                            RefusalSink sink);
  ~ClientCore() override;
  boost::asio::awaitable<Result<Response>> send(Request request);
  bool usable() const;
  void drain() override;
  std::size_t open_streams() const override { return streams_.size(); }
  AnyStream& stream() { return *stream_; }

 private:
  struct Waiter;
  struct Stream;
  ClientCore(boost::asio::any_io_executor ex, std::unique_ptr<AnyStream> stream, H2Limits limits,
             RefusalSink sink);
  int on_begin_headers(const nghttp2_frame* frame) override;
  int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value) override;
  int on_frame(const nghttp2_frame* frame) override;
  int on_data(std::int32_t id, const std::uint8_t* data, std::size_t n) override;
  int on_close(std::int32_t id, std::uint32_t code) override;
  ssize_t on_read_body(std::int32_t id, std::uint8_t* buf, std::size_t len,
                       std::uint32_t* flags) override;
  void on_not_sent(const nghttp2_frame* frame, int lib_error) override;
  void on_lost(std::string_view why) override;
  void deliver_head(Stream& s, bool end_stream);
  void fail(Stream& s, Error e, std::string_view body_error = "reset");
  Error unusable_error() const;
  std::size_t peer_max_streams() const;

  std::unique_ptr<AnyStream> stream_;
  std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams_;
  boost::asio::steady_timer slot_wake_;  // send()s waiting for a stream slot
  std::string lost_why_;
};

// Runs `core`'s connection over `stream` until it ends, then closes the stream: a reader
// (read_some -> feed), a writer (take_output -> write_all, woken by a kick) and a watchdog
// (on_tick; closes the stream on a hard close). `prefix` is fed before the first read.
boost::asio::awaitable<void> run_io(std::shared_ptr<Core> core, AnyStream& stream,
                                    std::string prefix);

}  // namespace strait::proxy::http::h2
