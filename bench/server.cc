// strait-bench-server: the application behind every data-plane scenario, the same binary on
// every path so that only the path differs.
//   --rr IP:PORT    request/response: reads requests of --req bytes and answers each with
//                   --resp bytes (pipelined requests are answered in order)
//   --sink IP:PORT  reads to EOF, then writes the byte count in decimal and "\n" and closes
// One Asio thread (--threads N for more); prints "listening" once every listener is bound;
// exits on SIGTERM/SIGINT.
#include <netinet/tcp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <iostream>
#include <memory>
#include <thread>

#include "bench/common.h"

namespace asio = boost::asio;
using asio::ip::tcp;
using strait::bench::die;
using strait::bench::Flags;

namespace {

constexpr auto kTok = asio::as_tuple(asio::use_awaitable);
std::size_t g_req = 1024, g_resp = 1024;

asio::awaitable<void> serve_rr(tcp::socket s) {
  s.set_option(tcp::no_delay(true));
  constexpr std::size_t kBatch = 64;
  std::vector<char> in(64 * 1024);
  std::vector<char> out(kBatch * g_resp, 'r');
  std::size_t partial = 0;
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(in), kTok);
    if (ec) break;
    partial += n;
    std::size_t complete = partial / g_req;
    partial %= g_req;
    while (complete > 0) {
      std::size_t k = std::min(complete, kBatch);
      auto [wec, w] = co_await asio::async_write(s, asio::buffer(out.data(), k * g_resp), kTok);
      if (wec) co_return;
      complete -= k;
    }
  }
  boost::system::error_code ignored;
  s.shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> serve_sink(tcp::socket s) {
  std::vector<char> in(256 * 1024);
  std::uint64_t total = 0;
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(in), kTok);
    total += n;
    if (ec) break;
  }
  std::string reply = std::to_string(total) + "\n";
  co_await asio::async_write(s, asio::buffer(reply), kTok);
  boost::system::error_code ignored;
  s.shutdown(tcp::socket::shutdown_send, ignored);
}

template <class Serve>
asio::awaitable<void> accept_loop(tcp::acceptor& a, Serve serve) {
  for (;;) {
    auto [ec, s] = co_await a.async_accept(kTok);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;  // EMFILE and the like: keep serving the others
    }
    asio::co_spawn(a.get_executor(), serve(std::move(s)), asio::detached);
  }
}

std::unique_ptr<tcp::acceptor> listen(asio::io_context& io, const std::string& addr) {
  auto ep = strait::bench::parse_endpoint(addr, "strait-bench-server");
  auto a = std::make_unique<tcp::acceptor>(io);
  a->open(ep.protocol());
  a->set_option(tcp::acceptor::reuse_address(true));
  a->bind(ep);
  a->listen(4096);
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  auto f = Flags::parse(argc, argv, "strait-bench-server");
  g_req = static_cast<std::size_t>(f.num("req", 1024));
  g_resp = static_cast<std::size_t>(f.num("resp", 1024));
  if (g_req == 0 || g_resp == 0) die("strait-bench-server", "--req and --resp must be positive");
  if (!f.has("rr") && !f.has("sink")) {
    die("strait-bench-server", "usage: strait-bench-server --rr IP:PORT [--sink IP:PORT]");
  }
  asio::io_context io;
  std::unique_ptr<tcp::acceptor> rr, sink;
  try {
    if (f.has("rr")) rr = listen(io, f.str("rr"));
    if (f.has("sink")) sink = listen(io, f.str("sink"));
  } catch (const std::exception& e) {
    die("strait-bench-server", std::string("listen: ") + e.what(), 1);
  }
  if (rr) asio::co_spawn(io, accept_loop(*rr, serve_rr), asio::detached);
  if (sink) asio::co_spawn(io, accept_loop(*sink, serve_sink), asio::detached);
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](auto, int) { io.stop(); });
  std::cout << "listening" << std::endl;
  int threads = std::max(1, static_cast<int>(f.num("threads", 1)));
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  return 0;
}
