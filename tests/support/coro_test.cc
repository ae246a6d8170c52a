#include "tests/support/coro_test.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

namespace strait::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::chrono::milliseconds kPoll{10};

// Runs `io` in slices until `done()` or `deadline`; restarts it when it ran out of work.
bool poll_until(asio::io_context& io, const std::function<bool()>& done,
                std::chrono::milliseconds deadline) {
  const auto start = std::chrono::steady_clock::now();
  while (!done() && std::chrono::steady_clock::now() - start < deadline) {
    io.run_for(kPoll);
    if (io.stopped()) io.restart();
  }
  return done();
}

}  // namespace

std::pair<tcp::socket, tcp::socket> socket_pair(asio::io_context& io) {
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  return {std::move(client), std::move(server)};
}

std::unique_ptr<proxy::AnyStream> plain(tcp::socket s) {
  return std::make_unique<proxy::AnyStream>(std::make_unique<proxy::PlainStream>(std::move(s)));
}

void run_all(asio::io_context& io, std::vector<Coro> coros, std::function<bool()> also_done,
             std::chrono::milliseconds deadline) {
  // Shared with the completion handlers, and keeping the coroutines' function objects (their
  // captures) alive: a coroutine still running at the deadline may be resumed by a later run
  // of `io`.
  struct State {
    std::vector<Coro> coros;
    std::size_t done = 0;
    std::vector<std::string> errors;
  };
  auto state = std::make_shared<State>();
  state->coros = std::move(coros);
  for (auto& c : state->coros) {
    asio::co_spawn(io, c(), [state](std::exception_ptr e) {
      ++state->done;
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        state->errors.push_back(ex.what());
      }
    });
  }
  const std::size_t total = state->coros.size();
  const auto finished = [&] { return state->done == total && (!also_done || also_done()); };
  poll_until(io, finished, deadline);
  EXPECT_EQ(state->done, total) << "deadline passed with coroutines still running";
  if (also_done) {
    EXPECT_TRUE(also_done()) << "deadline passed before also_done()";
  }
  for (const auto& e : state->errors) ADD_FAILURE() << "coroutine threw: " << e;
}

bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds deadline) {
  const bool ok = poll_until(io, done, deadline);
  EXPECT_TRUE(ok) << "deadline passed";
  return ok;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

std::string pattern(std::size_t n, std::uint32_t seed, Alphabet alphabet) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = alphabet == Alphabet::kLetters ? static_cast<char>('a' + x % 26) : static_cast<char>(x);
  }
  return s;
}

}  // namespace strait::testing
