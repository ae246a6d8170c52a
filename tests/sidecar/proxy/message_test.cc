// BodyPipe: data in order, the window, finish with trailers, abort drops what was queued,
// cancel wakes a waiting producer, hooks fire; field helpers.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <string>

#include "sidecar/proxy/http/message.h"

namespace strait::proxy::http {
namespace {

namespace asio = boost::asio;
using Kind = BodyPipe::Chunk::Kind;

TEST(BodyPipe, DataInOrderThenTrailers) {
  asio::io_context io;
  auto pipe = std::make_shared<BodyPipe>(io.get_executor(), 8);
  std::size_t consumed = 0;
  int readable = 0;
  pipe->on_consumed([&](std::size_t n) { consumed += n; });
  pipe->on_readable([&] { ++readable; });
  pipe->push("hello ");
  EXPECT_TRUE(pipe->writable());
  pipe->push("world");
  EXPECT_FALSE(pipe->writable());  // 11 bytes > window 8
  pipe->finish({{"grpc-status", "0"}});
  pipe->push("ignored");
  EXPECT_EQ(readable, 3);
  CollectedBody got;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { got = co_await collect(pipe); }, asio::detached);
  io.run();
  EXPECT_EQ(got.data, "hello world");
  ASSERT_EQ(got.trailers.size(), 1u);
  EXPECT_EQ(got.trailers[0].second, "0");
  EXPECT_EQ(consumed, 11u);
  EXPECT_TRUE(pipe->drained());
}

TEST(BodyPipe, ReaderWaitsAndPartialReads) {
  asio::io_context io;
  auto pipe = std::make_shared<BodyPipe>(io.get_executor());
  std::string seen;
  bool ended = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        while (true) {
          auto c = co_await pipe->read(3);
          if (c.kind != Kind::kData) {
            ended = c.kind == Kind::kEnd;
            co_return;
          }
          EXPECT_LE(c.data.size(), 3u);
          seen += c.data + "|";
        }
      },
      asio::detached);
  io.poll();
  EXPECT_TRUE(seen.empty());
  asio::post(io, [&] {
    pipe->push("abcdefg");
    pipe->finish();
  });
  io.run();
  EXPECT_EQ(seen, "abc|def|g|");
  EXPECT_TRUE(ended);
}

TEST(BodyPipe, AbortDropsQueuedData) {
  asio::io_context io;
  auto pipe = std::make_shared<BodyPipe>(io.get_executor());
  pipe->push("partial");
  pipe->abort("reset");
  auto c = pipe->try_read();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::kError);
  EXPECT_EQ(c->error, "reset");
  EXPECT_TRUE(pipe->done());
}

TEST(BodyPipe, CancelWakesTheProducer) {
  asio::io_context io;
  auto pipe = std::make_shared<BodyPipe>(io.get_executor(), 4);
  bool cancel_hook = false;
  pipe->on_cancel([&] { cancel_hook = true; });
  pipe->push("12345");
  std::optional<bool> writable;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { writable = co_await pipe->wait_writable(); },
      asio::detached);
  io.poll();
  EXPECT_FALSE(writable.has_value());
  pipe->cancel("client_gone");
  io.run();
  ASSERT_TRUE(writable.has_value());
  EXPECT_FALSE(*writable);
  EXPECT_TRUE(cancel_hook);
  EXPECT_EQ(pipe->buffered(), 0u);
  pipe->push("dropped");
  EXPECT_EQ(pipe->buffered(), 0u);
  auto c = pipe->try_read();  // a cancelled pipe reads as an error
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, Kind::kError);
  EXPECT_EQ(c->error, "client_gone");
}

TEST(BodyPipe, CancelWakesAWaitingReader) {
  asio::io_context io;
  auto pipe = std::make_shared<BodyPipe>(io.get_executor());
  std::optional<BodyPipe::Chunk> got;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { got = co_await pipe->read(); }, asio::detached);
  io.poll();
  EXPECT_FALSE(got);
  pipe->cancel("deadline");
  io.run();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->kind, Kind::kError);
  EXPECT_EQ(got->error, "deadline");
}

TEST(BodyPipe, ReadingBelowTheWindowWakesTheProducer) {
  asio::io_context io;
  auto pipe = std::make_shared<BodyPipe>(io.get_executor(), 4);
  pipe->push("12345678");
  std::optional<bool> writable;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { writable = co_await pipe->wait_writable(); },
      asio::detached);
  io.poll();
  EXPECT_FALSE(writable.has_value());
  ASSERT_TRUE(pipe->try_read(6));
  io.run();
  ASSERT_TRUE(writable.has_value());
  EXPECT_TRUE(*writable);
}

// The end observer sees what the consumer meets, once: the trailers of a clean end, null for
// an error read, a cancel, or a pipe dropped before its end was read.
TEST(BodyPipe, EndObserverFiresOnceWithWhatTheConsumerMet) {
  asio::io_context io;
  struct Seen {
    int calls = 0;
    bool clean = false;
    std::string grpc;
  };
  auto observe = [](BodyPipe& p, Seen& seen) {
    p.observe_end([&seen](const HeaderList* t) {
      ++seen.calls;
      seen.clean = t != nullptr;
      if (t) seen.grpc = find_field(*t, "grpc-status").value_or("");
    });
  };
  {
    Seen seen;
    BodyPipe p(io.get_executor());
    observe(p, seen);
    p.push("data");
    p.finish({{"grpc-status", "5"}});
    EXPECT_EQ(seen.calls, 0);  // finished, not yet read
    ASSERT_EQ(p.try_read()->kind, Kind::kData);
    EXPECT_EQ(seen.calls, 0);
    ASSERT_EQ(p.try_read()->kind, Kind::kEnd);
    EXPECT_EQ(seen.calls, 1);
    EXPECT_TRUE(seen.clean);
    EXPECT_EQ(seen.grpc, "5");
    p.cancel("late");  // after the end: nothing more
    EXPECT_EQ(seen.calls, 1);
  }
  {
    Seen seen;
    BodyPipe p(io.get_executor());
    observe(p, seen);
    p.abort("reset");
    ASSERT_EQ(p.try_read()->kind, Kind::kError);
    EXPECT_EQ(seen.calls, 1);
    EXPECT_FALSE(seen.clean);
  }
  {
    Seen seen;
    BodyPipe p(io.get_executor());
    observe(p, seen);
    p.push("data");
    p.cancel("client_gone");
    EXPECT_EQ(seen.calls, 1);
    EXPECT_FALSE(seen.clean);
  }
  Seen dropped;
  {
    BodyPipe p(io.get_executor());
    observe(p, dropped);
    p.push("never read");
    p.finish();
  }
  EXPECT_EQ(dropped.calls, 1);
  EXPECT_FALSE(dropped.clean);
}

TEST(Message, FieldsAndLocalResponses) {
  asio::io_context io;
  HeaderList f{{"a", "1"}, {"b", "2"}, {"a", "3"}};
  EXPECT_EQ(find_field(f, "a"), "1");
  EXPECT_FALSE(find_field(f, "c"));
  EXPECT_EQ(remove_field(f, "a"), 2u);
  EXPECT_EQ(f.size(), 1u);
  auto r = local_response(io.get_executor(), 503, "no_ready_endpoints", "no endpoints\n");
  EXPECT_EQ(r.head.status, 503u);
  EXPECT_EQ(find_field(r.head.fields, kProxyErrorField), "no_ready_endpoints");
  EXPECT_EQ(find_field(r.head.fields, "content-length"), "13");
  EXPECT_EQ(version_name(HttpVersion::kHttp11), "HTTP/1.1");
}

}  // namespace
}  // namespace strait::proxy::http
