// Protocol detection: the bounded read around the classifier (classify.cc).
#include "sidecar/proxy/detect.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace strait::proxy {
namespace asio = boost::asio;

asio::awaitable<Detected> detect(AnyStream& stream, std::chrono::milliseconds timeout) {
  Detected d;
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex, timeout);
  char buf[kDetectBytes];
  for (;;) {
    if (auto p = classify(d.prefix)) {
      d.protocol = *p;
      co_return d;
    }
    if (d.prefix.size() >= kDetectBytes) break;
    // Not `read || timer`: when both complete in one turn, the read's bytes would be dropped.
    // A parallel group reports both results, so bytes that arrived with the deadline are kept.
    const std::size_t room = kDetectBytes - d.prefix.size();
    auto [order, read_error, read_result, timer_error] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex, stream.read_some(asio::buffer(buf, room)), asio::deferred),
            timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)timer_error;
    auto [ec, n] = read_result;
    d.prefix.append(buf, n);
    if (order[0] == 1 && n == 0) {
      d.timed_out = true;
      break;
    }
    if (read_error || (ec && n == 0)) {
      d.closed = true;
      break;
    }
  }
  d.protocol = Protocol::kOpaque;
  co_return d;
}

}  // namespace strait::proxy
