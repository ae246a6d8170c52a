// The message model's BodyPipe and helpers (see message.h).
#include "sidecar/proxy/http/message.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace strait::proxy::http {
namespace asio = boost::asio;

BodyPipe::BodyPipe(asio::any_io_executor ex, std::size_t window)
    : reader_wake_(ex, asio::steady_timer::time_point::max()),
      writer_wake_(ex, asio::steady_timer::time_point::max()),
      window_(window == 0 ? 1 : window) {}

BodyPipe::~BodyPipe() { ended(nullptr); }

void BodyPipe::ended(const HeaderList* trailers) {
  if (!on_end_) return;
  auto f = std::move(on_end_);
  on_end_ = nullptr;
  f(trailers);
}

void BodyPipe::wake_reader() {
  reader_wake_.cancel();
  if (on_readable_) on_readable_();
}

void BodyPipe::wake_writer() { writer_wake_.cancel(); }

void BodyPipe::push(std::string data) {
  if (state_ != State::kOpen || cancelled_ || data.empty()) return;
  buffered_ += data.size();
  queue_.push_back(std::move(data));
  wake_reader();
}

void BodyPipe::finish(HeaderList trailers) {
  if (state_ != State::kOpen) return;
  state_ = State::kFinished;
  trailers_ = std::move(trailers);
  wake_reader();
}

void BodyPipe::abort(std::string reason) {
  if (state_ != State::kOpen) return;
  state_ = State::kAborted;
  error_ = reason.empty() ? "aborted" : std::move(reason);
  queue_.clear();
  buffered_ = 0;
  wake_reader();
}

void BodyPipe::cancel(std::string reason) {
  if (cancelled_) return;
  cancelled_ = true;
  cancel_reason_ = reason.empty() ? "cancelled" : std::move(reason);
  queue_.clear();
  buffered_ = 0;
  wake_writer();
  reader_wake_.cancel();
  if (on_cancel_) on_cancel_();
  ended(nullptr);
}

asio::awaitable<bool> BodyPipe::wait_writable() {
  while (!cancelled_ && !writable()) {
    writer_wake_.expires_at(asio::steady_timer::time_point::max());
    co_await writer_wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return !cancelled_;
}

std::optional<BodyPipe::Chunk> BodyPipe::try_read(std::size_t max) {
  if (max == 0) max = 1;
  if (cancelled_ && state_ != State::kAborted) {
    delivered_end_ = true;
    ended(nullptr);
    return Chunk{Chunk::Kind::kError, {}, {}, cancel_reason_};
  }
  if (state_ == State::kAborted) {
    delivered_end_ = true;
    ended(nullptr);
    return Chunk{Chunk::Kind::kError, {}, {}, error_};
  }
  if (!queue_.empty()) {
    Chunk c;
    if (queue_.front().size() <= max) {
      c.data = std::move(queue_.front());
      queue_.pop_front();
    } else {
      c.data = queue_.front().substr(0, max);
      queue_.front().erase(0, max);
    }
    const bool was_full = !writable();
    buffered_ -= c.data.size();
    if (on_consumed_) on_consumed_(c.data.size());
    if (was_full && writable()) wake_writer();
    return c;
  }
  if (state_ == State::kFinished) {
    delivered_end_ = true;
    ended(&trailers_);
    return Chunk{Chunk::Kind::kEnd, {}, std::move(trailers_), {}};
  }
  return std::nullopt;
}

asio::awaitable<BodyPipe::Chunk> BodyPipe::read(std::size_t max) {
  while (true) {
    if (auto c = try_read(max)) co_return std::move(*c);
    reader_wake_.expires_at(asio::steady_timer::time_point::max());
    co_await reader_wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

Body complete_body(asio::any_io_executor ex, std::string bytes, HeaderList trailers) {
  auto b = std::make_shared<BodyPipe>(ex, bytes.size() + 1);
  b->push(std::move(bytes));
  b->finish(std::move(trailers));
  return b;
}

asio::awaitable<CollectedBody> collect(Body body, std::size_t limit) {
  CollectedBody out;
  if (!body) co_return out;
  while (true) {
    auto c = co_await body->read();
    if (c.kind == BodyPipe::Chunk::Kind::kError) {
      out.error = c.error;
      co_return out;
    }
    if (c.kind == BodyPipe::Chunk::Kind::kEnd) {
      out.trailers = std::move(c.trailers);
      co_return out;
    }
    if (out.data.size() + c.data.size() > limit) {
      body->cancel("too_large");
      out.error = "too_large";
      co_return out;
    }
    out.data += c.data;
  }
}

Response local_response(asio::any_io_executor ex, unsigned status, std::string_view reason,
                        std::string body) {
  Response r;
  r.head.status = status;
  r.head.fields.emplace_back("content-type", "text/plain");
  r.head.fields.emplace_back("content-length", std::to_string(body.size()));
  if (!reason.empty()) r.head.fields.emplace_back(std::string(kProxyErrorField), reason);
  r.body = complete_body(ex, std::move(body));
  return r;
}

}  // namespace strait::proxy::http
