// strait-bench-server: the application behind every data-plane scenario, the same binary on
// every path so that only the path differs.
//   --rr IP:PORT    request/response: reads requests of --req bytes and answers each with
//                   --resp bytes (pipelined requests are answered in order)
//   --sink IP:PORT  reads to EOF, then writes the byte count in decimal and "\n" and closes
//   --http IP:PORT  HTTP/1.1 with keep-alive: answers every request (any method and target) with
//                   200 and a body of --resp bytes, Content-Length framing; request bodies are
//                   read and dropped when framed by Content-Length (chunked ones are refused
//                   with 501 and a close); pipelined requests are answered in order;
//                   "Connection: close" or HTTP/1.0 without keep-alive closes after the answer
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
#include <cctype>
#include <iostream>
#include <string_view>
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

// ---- HTTP/1.1 ----

std::string g_http_answer;  // the whole response: head and body

bool iequals_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  }
  return true;
}

std::string lower_trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
    v.remove_suffix(1);
  std::string out(v);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct HttpHead {
  std::size_t body = 0;  // Content-Length of the request body
  bool close = false, chunked = false;
};

// The head in [0, end) (end excludes CRLFCRLF): what framing and keep-alive need, nothing more.
HttpHead parse_head(std::string_view head) {
  HttpHead h;
  auto eol = head.find("\r\n");
  std::string_view request_line = head.substr(0, eol);
  bool http10 =
      request_line.size() >= 8 && request_line.substr(request_line.size() - 8) == "HTTP/1.0";
  bool keep_alive = false;
  while (eol != std::string_view::npos) {
    auto start = eol + 2;
    eol = head.find("\r\n", start);
    auto line =
        head.substr(start, eol == std::string_view::npos ? std::string_view::npos : eol - start);
    if (iequals_prefix(line, "content-length:")) {
      h.body = std::strtoull(std::string(line.substr(15)).c_str(), nullptr, 10);
    } else if (iequals_prefix(line, "transfer-encoding:")) {
      h.chunked = lower_trim(line.substr(18)) != "identity";
    } else if (iequals_prefix(line, "connection:")) {
      auto v = lower_trim(line.substr(11));
      if (v.find("close") != std::string::npos) h.close = true;
      if (v.find("keep-alive") != std::string::npos) keep_alive = true;
    }
  }
  if (http10 && !keep_alive) h.close = true;
  return h;
}

asio::awaitable<void> serve_http(tcp::socket s) {
  s.set_option(tcp::no_delay(true));
  std::string in;
  std::vector<char> buf(64 * 1024);
  std::string out;
  std::size_t skip = 0;  // request body bytes still to drop
  bool closing = false;
  while (!closing) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), kTok);
    if (ec) break;
    in.append(buf.data(), n);
    std::size_t pos = 0;
    out.clear();
    for (;;) {
      std::size_t drop = std::min(skip, in.size() - pos);
      pos += drop;
      skip -= drop;
      if (skip > 0) break;
      auto end = in.find("\r\n\r\n", pos);
      if (end == std::string::npos) {
        if (in.size() - pos > 64 * 1024) closing = true;  // no head that large: give up
        break;
      }
      auto head = parse_head(std::string_view(in).substr(pos, end - pos));
      pos = end + 4;
      if (head.chunked) {
        // The benchmark's requests are bodyless GETs; a chunked request body is outside what
        // this server is for, and RFC 9112 says to answer an unsupported coding with 501.
        out += "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        closing = true;
        break;
      }
      skip = head.body;
      out += g_http_answer;
      if (head.close) {
        closing = true;
        break;
      }
    }
    in.erase(0, pos);
    if (!out.empty()) {
      auto [wec, w] = co_await asio::async_write(s, asio::buffer(out), kTok);
      if (wec) co_return;
    }
  }
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
  if (!f.has("rr") && !f.has("sink") && !f.has("http")) {
    die("strait-bench-server",
        "usage: strait-bench-server [--rr IP:PORT] [--sink IP:PORT] [--http IP:PORT]");
  }
  g_http_answer = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                  std::to_string(g_resp) + "\r\n\r\n" + std::string(g_resp, 'h');
  asio::io_context io;
  std::unique_ptr<tcp::acceptor> rr, sink, http;
  try {
    if (f.has("rr")) rr = listen(io, f.str("rr"));
    if (f.has("sink")) sink = listen(io, f.str("sink"));
    if (f.has("http")) http = listen(io, f.str("http"));
  } catch (const std::exception& e) {
    die("strait-bench-server", std::string("listen: ") + e.what(), 1);
  }
  if (rr) asio::co_spawn(io, accept_loop(*rr, serve_rr), asio::detached);
  if (sink) asio::co_spawn(io, accept_loop(*sink, serve_sink), asio::detached);
  if (http) asio::co_spawn(io, accept_loop(*http, serve_http), asio::detached);
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
