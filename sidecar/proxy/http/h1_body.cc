// HTTP/1 session internals: deadline I/O, the pipe ends, body coding, field conversions.
#include "sidecar/proxy/http/h1_body.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>
#include <array>

namespace strait::proxy::http::h1 {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
}

asio::awaitable<ReadOutcome> read_racing(AnyStream& s, std::string& buf, std::size_t max,
                                         asio::steady_timer& timer) {
  auto ex = co_await asio::this_coro::executor;
  std::array<char, 16 * 1024> chunk;
  const std::size_t room = std::min(max == 0 ? 1 : max, chunk.size());
  // A parallel group rather than `read || timer`: when both complete in one turn, the read's
  // bytes must not be lost.
  auto [order, read_ex, read_result, timer_ec] =
      co_await asio::experimental::make_parallel_group(
          asio::co_spawn(ex, s.read_some(asio::buffer(chunk.data(), room)), asio::deferred),
          timer.async_wait(asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  (void)timer_ec;
  ReadOutcome out;
  auto [ec, n] = read_result;
  out.ec = read_ex ? error_code(asio::error::operation_aborted) : ec;
  out.n = n;
  out.timed_out = order[0] == 1;
  buf.append(chunk.data(), n);
  co_return out;
}

asio::awaitable<ReadOutcome> read_until(AnyStream& s, std::string& buf, std::size_t max,
                                        Clock::time_point deadline) {
  if (Clock::now() >= deadline) co_return ReadOutcome{{}, 0, true};
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  co_return co_await read_racing(s, buf, max, timer);
}

asio::awaitable<error_code> write_within(AnyStream& s, std::string_view data,
                                         std::chrono::milliseconds timeout) {
  if (data.empty()) co_return error_code{};
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex, timeout);
  auto [order, write_ex, write_ec, timer_ec] =
      co_await asio::experimental::make_parallel_group(
          asio::co_spawn(ex, s.write_all(asio::buffer(data.data(), data.size())), asio::deferred),
          timer.async_wait(asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  (void)timer_ec;
  if (order[0] == 1) co_return error_code(asio::error::timed_out);
  if (write_ex) co_return error_code(asio::error::operation_aborted);
  co_return write_ec;
}

void abortive_close(AnyStream& s) {
  error_code ec;
  s.socket().set_option(asio::socket_base::linger(true, 0), ec);
  s.close();
}

asio::awaitable<void> lingering_close(AnyStream& s, std::size_t max_bytes,
                                      std::chrono::milliseconds timeout) {
  co_await s.shutdown_write();
  const auto deadline = Clock::now() + timeout;
  std::size_t seen = 0;
  std::string sink;
  while (seen < max_bytes) {
    sink.clear();
    auto r = co_await read_until(s, sink, max_bytes - seen, deadline);
    seen += r.n;
    if (r.ec || r.timed_out) break;
  }
  s.close();
}

// ---- PipeConsumer

PipeConsumer::PipeConsumer(Body pipe, asio::any_io_executor ex)
    : pipe_(std::move(pipe)), wake_(ex, asio::steady_timer::time_point::max()) {
  pipe_->on_readable([this] { wake_.cancel(); });
}

PipeConsumer::~PipeConsumer() { pipe_->on_readable(nullptr); }

std::optional<BodyPipe::Chunk> PipeConsumer::try_next(std::size_t max) {
  if (stopped_) return std::nullopt;
  return pipe_->try_read(max);
}

asio::awaitable<std::optional<BodyPipe::Chunk>> PipeConsumer::next(std::size_t max) {
  while (!stopped_) {
    if (auto c = pipe_->try_read(max)) co_return c;
    wake_.expires_at(asio::steady_timer::time_point::max());
    co_await wake_.async_wait(kTuple);
  }
  co_return std::nullopt;
}

void PipeConsumer::stop() {
  stopped_ = true;
  wake_.cancel();
}

// ---- PipeProducer

PipeProducer::PipeProducer(Body pipe, asio::any_io_executor ex)
    : pipe_(std::move(pipe)), wake_(ex, asio::steady_timer::time_point::max()) {
  pipe_->on_consumed([this](std::size_t) { wake_.cancel(); });
  pipe_->on_cancel([this] { wake_.cancel(); });
}

PipeProducer::~PipeProducer() {
  pipe_->on_consumed(nullptr);
  pipe_->on_cancel(nullptr);
}

asio::awaitable<bool> PipeProducer::wait_writable() {
  while (!stopped_ && !pipe_->cancelled() && !pipe_->writable()) {
    wake_.expires_at(asio::steady_timer::time_point::max());
    co_await wake_.async_wait(kTuple);
  }
  co_return !stopped_ && !pipe_->cancelled();
}

void PipeProducer::stop() {
  stopped_ = true;
  wake_.cancel();
}

// ---- body coding

Result<void> BodyDecoder::take(std::string& buf, std::string& data) {
  switch (framing_) {
    case BodyFraming::kNone:
      return {};
    case BodyFraming::kLength: {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, buf.size()));
      data.append(buf, 0, n);
      buf.erase(0, n);
      left_ -= n;
      return {};
    }
    case BodyFraming::kChunked: {
      auto used = chunked_.feed(buf, data);
      if (!used) return used.error();
      buf.erase(0, *used);
      return {};
    }
    case BodyFraming::kUntilClose:
      data.append(buf);
      buf.clear();
      return {};
  }
  return {};
}

bool BodyDecoder::done() const {
  switch (framing_) {
    case BodyFraming::kNone:
      return true;
    case BodyFraming::kLength:
      return left_ == 0;
    case BodyFraming::kChunked:
      return chunked_.done();
    case BodyFraming::kUntilClose:
      return false;  // ends with the connection
  }
  return true;
}

HeaderList BodyDecoder::trailers() const {
  return framing_ == BodyFraming::kChunked ? lowered(chunked_.trailers()) : HeaderList{};
}

bool BodyEncoder::data(std::string_view data, std::string& out) {
  switch (framing_) {
    case BodyFraming::kNone:
      return data.empty();
    case BodyFraming::kLength:
      if (data.size() > left_) {
        out.append(data.substr(0, static_cast<std::size_t>(left_)));
        left_ = 0;
        return false;
      }
      out.append(data);
      left_ -= data.size();
      return true;
    case BodyFraming::kChunked:
      out += encode_chunk(data);
      return true;
    case BodyFraming::kUntilClose:
      out.append(data);
      return true;
  }
  return false;
}

bool BodyEncoder::end(const HeaderList& trailers, std::string& out) {
  if (framing_ == BodyFraming::kChunked) out += encode_last_chunk(trailers);
  return framing_ != BodyFraming::kLength || left_ == 0;
}

// ---- fields

bool iequal(std::string_view a, std::string_view b) { return boost::beast::iequals(a, b); }

bool take_complete(BodyPipe& body, std::string& data, HeaderList& trailers) {
  while (auto c = body.try_read()) {
    if (c->kind == BodyPipe::Chunk::Kind::kData) {
      data += c->data;
      continue;
    }
    trailers = std::move(c->trailers);
    return c->kind != BodyPipe::Chunk::Kind::kError;
  }
  return true;
}

HeaderList lowered(const Fields& fields) {
  HeaderList out;
  out.reserve(fields.size());
  for (const auto& [n, v] : fields) {
    if (is_hop_by_hop(n)) continue;
    std::string name(n);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.emplace_back(std::move(name), v);
  }
  return out;
}

std::optional<std::uint64_t> parse_length(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty() || v.size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

std::string reason_phrase(unsigned status) {
  namespace bh = boost::beast::http;
  const auto s = bh::int_to_status(status);
  if (s == bh::status::unknown) return "Unknown";
  return std::string(bh::obsolete_reason(s));
}

std::string io_error_name(const error_code& ec) {
  namespace e = asio::error;
  if (ec == e::eof) return "eof";
  if (ec == e::connection_reset) return "connection_reset";
  if (ec == e::broken_pipe) return "broken_pipe";
  if (ec == e::operation_aborted) return "aborted";
  if (ec == e::timed_out) return "timed_out";
  if (ec == asio::ssl::error::stream_truncated) return "truncated";
  return "io_error";
}

}  // namespace strait::proxy::http::h1
