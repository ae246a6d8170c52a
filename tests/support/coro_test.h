// Scaffolding for loopback tests of coroutine code (streams, HTTP sessions): a connected pair
// of TCP sockets, a plain AnyStream over a socket, running coroutines on an io_context against
// a deadline (run_all, run_until), a timer sleep, and deterministic test data (pattern).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sidecar/proxy/stream.h"

namespace strait::testing {

// How long run_all and run_until wait by default: generous for ASan; a hang fails the test
// instead of blocking ctest.
inline constexpr std::chrono::milliseconds kDeadline = std::chrono::seconds(30);

// Two connected loopback sockets, {client, server} (the kernel completes the TCP handshake
// before accept).
std::pair<boost::asio::ip::tcp::socket, boost::asio::ip::tcp::socket> socket_pair(
    boost::asio::io_context& io);

// `s` as a plain (not TLS) AnyStream.
std::unique_ptr<proxy::AnyStream> plain(boost::asio::ip::tcp::socket s);

using Coro = std::function<boost::asio::awaitable<void>()>;

// Starts the coroutines on `io` and runs it until all of them finished (and `also_done()`
// holds, when given) or `deadline` passed. Fails the test on the deadline and on each
// exception that escaped a coroutine.
void run_all(boost::asio::io_context& io, std::vector<Coro> coros,
             std::function<bool()> also_done = {}, std::chrono::milliseconds deadline = kDeadline);

// Runs `io` until `done()` or `deadline`; fails the test on the deadline. Returns done().
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds deadline = kDeadline);

// Waits `d` on a timer of the calling coroutine's executor.
boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d);

// What pattern() draws its characters from.
enum class Alphabet {
  kBytes,    // any byte value, NUL included
  kLetters,  // 'a' to 'z' only (text for tools that want it)
};

// Deterministic data of any length: the same `n`, `seed` and `alphabet` give the same string.
std::string pattern(std::size_t n, std::uint32_t seed, Alphabet alphabet = Alphabet::kBytes);

}  // namespace strait::testing
