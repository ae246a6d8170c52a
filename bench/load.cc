// strait-bench-load: the benchmark's load generator (plain TCP to whatever the path starts with:
// the server, an intercepted virtual IP, or a local HAProxy/nginx listener). Prints one JSON
// object on stdout.
//
//   open     --target IP:PORT --rate R --conns C --duration S [--warmup S]
//            Open loop: request i is due at start + i/R on connection i mod C, and is written
//            then whether or not earlier answers came back (pipelined). Its latency runs from
//            that intended time to the last byte of its answer, so a stall shows in the
//            latencies of everything due behind it (no coordinated omission).
//   closed   --target IP:PORT --conns C --duration S   each connection: request, answer, again
//   bulk     --target IP:PORT (a sink) --duration S    one connection, writes for S seconds
//   connrate --target IP:PORT --parallel P --duration S   connect, one request/answer, close
//
// --http 1 (open, closed, connrate): HTTP/1.1 with keep-alive instead of raw bytes. Every request
// is `GET / HTTP/1.1` with `Host: bench`; an answer is its head up to CRLFCRLF, then its body by
// Content-Length (or chunked); a status other than 2xx counts as an error. One request is
// outstanding per connection (no pipelining): in the open loop, a request due while its
// connection is busy waits in that connection's queue, and its latency still runs from its
// intended time. --host NAME sets the Host field.
//
// Sizes: --req and --resp bytes (1024; HTTP: the answer's size comes from its framing). Every run
// is bounded: sending stops at warmup+duration and whatever has not come back within --drain S (5)
// is reported as unfinished.
#include <netinet/tcp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <cctype>
#include <deque>
#include <functional>
#include <iostream>
#include <memory>
#include <string_view>

#include "bench/common.h"

namespace asio = boost::asio;
using asio::ip::tcp;
using strait::bench::Clock;
using strait::bench::die;
using strait::bench::Flags;
using strait::bench::Latencies;

namespace {

constexpr auto kTok = asio::as_tuple(asio::use_awaitable);
constexpr const char* kTool = "strait-bench-load";

struct Settings {
  tcp::endpoint target;
  bool http = false;
  std::string http_request;
  double rate = 1000;
  int conns = 16;
  int parallel = 8;
  std::size_t req = 1024, resp = 1024;
  Clock::duration warmup{}, duration{}, drain{};
};

struct Totals {
  std::uint64_t sent = 0, completed = 0, errors = 0, unfinished = 0, bytes = 0;
  std::uint64_t measured = 0;  // completed inside the measurement window
  Latencies lat;
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

asio::awaitable<boost::system::error_code> connect(tcp::socket& s, const tcp::endpoint& ep,
                                                   Clock::duration timeout) {
  asio::steady_timer t(s.get_executor());
  t.expires_after(timeout);
  bool timed_out = false;
  t.async_wait([&](boost::system::error_code ec) {
    if (!ec) {
      timed_out = true;
      boost::system::error_code ignored;
      s.close(ignored);
    }
  });
  auto [ec] = co_await s.async_connect(ep, kTok);
  t.cancel();
  if (timed_out) co_return asio::error::timed_out;
  if (!ec) s.set_option(tcp::no_delay(true));
  co_return ec;
}

// ---- HTTP/1.1 answers ----

// Reads one response at a time from a keep-alive connection; bytes past it stay buffered.
class HttpReader {
 public:
  // The answer's status (0 when the connection failed or the answer is malformed); *close is set
  // when the server ends the connection after it.
  asio::awaitable<int> response(tcp::socket& sock, bool* close) {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      // co_await only in a declaration, never inside a condition (`!co_await ...`, `a ||
      // co_await ...`): GCC 12 miscompiles those here (a crash in await_transform; see also the
      // proxy's DestinationCache::Entry::wait_for_endpoints).
      if (buf_.size() > 64 * 1024) co_return 0;
      if (bool ok = co_await fill(sock); !ok) co_return 0;
    }
    std::string_view head(buf_.data(), end);
    int status = head.size() > 12 && head.substr(0, 5) == "HTTP/" ? std::atoi(head.data() + 9) : 0;
    std::uint64_t length = 0;
    bool have_length = false, chunked = false;
    *close = head.substr(0, 8) == "HTTP/1.0";
    for (auto eol = head.find("\r\n"); eol != std::string_view::npos;) {
      auto start = eol + 2;
      eol = head.find("\r\n", start);
      std::string line(head.substr(start, eol == std::string_view::npos ? eol : eol - start));
      for (auto& c : line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (line.rfind("content-length:", 0) == 0) {
        length = std::strtoull(line.c_str() + 15, nullptr, 10);
        have_length = true;
      } else if (line.rfind("transfer-encoding:", 0) == 0) {
        chunked = line.find("chunked") != std::string::npos;
      } else if (line.rfind("connection:", 0) == 0) {
        if (line.find("close") != std::string::npos) *close = true;
        if (line.find("keep-alive") != std::string::npos) *close = false;
      }
    }
    buf_.erase(0, end + 4);
    if (status < 200 && status >= 100) co_return co_await response(sock, close);  // 1xx
    if (chunked) {
      for (;;) {
        std::size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos) {
          if (bool ok = co_await fill(sock); !ok) co_return 0;
        }
        std::uint64_t size = std::strtoull(buf_.c_str(), nullptr, 16);
        buf_.erase(0, eol + 2);
        if (size == 0) break;
        if (bool ok = co_await skip(sock, size + 2); !ok) co_return 0;
      }
      // Trailers (usually none), up to the empty line.
      for (;;) {
        std::size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos) {
          if (bool ok = co_await fill(sock); !ok) co_return 0;
        }
        buf_.erase(0, eol + 2);
        if (eol == 0) break;
      }
    } else if (have_length) {
      if (bool ok = co_await skip(sock, length); !ok) co_return 0;
    } else if (status != 204 && status != 304) {
      co_return 0;  // a body to the close: not what a keep-alive benchmark expects
    }
    co_return status;
  }

 private:
  asio::awaitable<bool> fill(tcp::socket& sock) {
    auto [ec, n] = co_await sock.async_read_some(asio::buffer(tmp_), kTok);
    if (ec) co_return false;
    buf_.append(tmp_.data(), n);
    co_return true;
  }
  asio::awaitable<bool> skip(tcp::socket& sock, std::uint64_t n) {
    while (buf_.size() < n) {
      n -= buf_.size();
      buf_.clear();
      if (bool ok = co_await fill(sock); !ok) co_return false;
    }
    buf_.erase(0, n);
    co_return true;
  }
  std::string buf_;
  std::array<char, 16 * 1024> tmp_{};
};

// ---- open loop ----

struct OpenConn {
  explicit OpenConn(asio::io_context& io) : sock(io), wake(io) {}
  tcp::socket sock;
  std::deque<Clock::time_point> pending;  // intended times, in the order written (HTTP: queued)
  std::size_t to_write = 0;
  bool writing = false, dead = false;
  asio::steady_timer wake;  // HTTP: the idle connection waits on it for its next request
  bool idle = false;
};

struct OpenRun {
  Settings s;
  Totals t;
  std::vector<std::unique_ptr<OpenConn>> conns;
  std::vector<char> reqbuf;
  Clock::time_point measure_from, send_until;
  bool sending_done = false;

  asio::awaitable<void> writer(OpenConn& c) {
    while (c.to_write > 0 && !c.dead) {
      std::size_t k = std::min<std::size_t>(c.to_write, 64);
      c.to_write -= k;
      auto [ec, n] =
          co_await asio::async_write(c.sock, asio::buffer(reqbuf.data(), k * s.req), kTok);
      if (ec) c.dead = true;
    }
    c.writing = false;
  }

  asio::awaitable<void> reader(OpenConn& c) {
    std::vector<char> buf(64 * 1024);
    std::size_t partial = 0;
    for (;;) {
      auto [ec, n] = co_await c.sock.async_read_some(asio::buffer(buf), kTok);
      if (ec) break;
      auto now = Clock::now();
      partial += n;
      while (partial >= s.resp && !c.pending.empty()) {
        partial -= s.resp;
        auto due = c.pending.front();
        c.pending.pop_front();
        ++t.completed;
        if (due >= measure_from) {
          ++t.measured;
          t.lat.add(now - due);
        }
      }
    }
    c.dead = true;
    t.errors += c.pending.size();
    c.pending.clear();
  }

  // HTTP: one request at a time; the queue's front is the request in flight.
  asio::awaitable<void> http_worker(OpenConn& c) {
    HttpReader reader;
    for (;;) {
      while (c.pending.empty()) {
        c.idle = true;
        c.wake.expires_at(Clock::time_point::max());
        co_await c.wake.async_wait(kTok);
        c.idle = false;
      }
      auto [wec, w] = co_await asio::async_write(c.sock, asio::buffer(s.http_request), kTok);
      if (wec) break;
      bool close = false;
      int status = co_await reader.response(c.sock, &close);
      if (status == 0) break;
      auto now = Clock::now();
      auto due = c.pending.front();
      c.pending.pop_front();
      if (status >= 300) {
        ++t.errors;
      } else {
        ++t.completed;
        if (due >= measure_from) {
          ++t.measured;
          t.lat.add(now - due);
        }
      }
      if (close) break;
    }
    c.dead = true;
    t.errors += c.pending.size();
    c.pending.clear();
  }

  asio::awaitable<void> sender() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto start = Clock::now();
    measure_from = start + s.warmup;
    send_until = measure_from + s.duration;
    const auto period = std::chrono::duration<double>(1.0 / s.rate);
    for (std::uint64_t i = 0;; ++i) {
      auto due =
          start + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(i));
      if (due >= send_until) break;
      if (due > Clock::now()) {
        timer.expires_at(due);
        co_await timer.async_wait(kTok);
      }
      auto& c = *conns[i % conns.size()];
      ++t.sent;
      if (c.dead) {
        ++t.errors;
        continue;
      }
      c.pending.push_back(due);
      if (s.http) {
        if (c.idle) c.wake.cancel();
        continue;
      }
      ++c.to_write;
      if (!c.writing) {
        c.writing = true;  // co_spawn starts the writer later, from the queue
        asio::co_spawn(c.sock.get_executor(), writer(c), asio::detached);
      }
    }
    sending_done = true;
  }
};

void run_open(const Settings& s) {
  asio::io_context io;
  OpenRun r;
  r.s = s;
  r.reqbuf.assign(64 * s.req, 'q');
  r.t.lat.reserve(static_cast<std::size_t>(s.rate * seconds(s.duration) * 1.1) + 16);
  for (int i = 0; i < s.conns; ++i) r.conns.push_back(std::make_unique<OpenConn>(io));
  int connected = 0, failed = 0;
  std::string why;
  for (auto& c : r.conns) {
    asio::co_spawn(
        io,
        [&, cp = c.get()]() -> asio::awaitable<void> {
          auto ec = co_await connect(cp->sock, s.target, std::chrono::seconds(5));
          if (ec) {
            ++failed;
            why = ec.message();
          } else {
            ++connected;
          }
        },
        asio::detached);
  }
  while ((connected + failed) < s.conns && io.run_one_for(std::chrono::seconds(6))) {
  }
  if (failed > 0 || connected < s.conns) die(kTool, "connect to the target failed: " + why, 1);
  io.restart();
  for (auto& c : r.conns) {
    asio::co_spawn(io, s.http ? r.http_worker(*c) : r.reader(*c), asio::detached);
  }
  asio::co_spawn(io, r.sender(), asio::detached);
  // Stop once every answer is in (or the drain time is over).
  asio::steady_timer poll(io);
  std::function<void(boost::system::error_code)> check = [&](boost::system::error_code) {
    bool drained = r.sending_done;
    for (auto& c : r.conns) drained = drained && (c->pending.empty() || c->dead);
    if (drained || (r.sending_done && Clock::now() > r.send_until + s.drain)) {
      for (auto& c : r.conns) {
        r.t.unfinished += c->pending.size();
        boost::system::error_code ignored;
        c->sock.close(ignored);
      }
      io.stop();
      return;
    }
    poll.expires_after(std::chrono::milliseconds(5));
    poll.async_wait(check);
  };
  poll.expires_after(std::chrono::milliseconds(5));
  poll.async_wait(check);
  io.run();
  std::cout << "{\"mode\":\"open\",\"http\":" << (s.http ? "true" : "false")
            << ",\"rate\":" << s.rate << ",\"conns\":" << s.conns
            << ",\"duration_s\":" << seconds(s.duration) << ",\"sent\":" << r.t.sent
            << ",\"completed\":" << r.t.completed << ",\"errors\":" << r.t.errors
            << ",\"unfinished\":" << r.t.unfinished
            << ",\"achieved_rps\":" << static_cast<double>(r.t.measured) / seconds(s.duration)
            << ",\"latency_us\":" << r.t.lat.json() << "}" << std::endl;
}

// ---- closed loop, connection rate, bulk ----

asio::awaitable<bool> one_request(tcp::socket& sock, const Settings& s, std::vector<char>& reqbuf,
                                  std::vector<char>& respbuf, HttpReader& http) {
  if (s.http) {
    auto [wec, w] = co_await asio::async_write(sock, asio::buffer(s.http_request), kTok);
    if (wec) co_return false;
    bool close = false;
    int status = co_await http.response(sock, &close);
    if (close) {
      boost::system::error_code ignored;
      sock.close(ignored);  // the next request on it fails, as a closed keep-alive connection does
    }
    co_return status >= 200 && status < 300;
  }
  auto [wec, w] = co_await asio::async_write(sock, asio::buffer(reqbuf.data(), s.req), kTok);
  if (wec) co_return false;
  auto [rec, r] = co_await asio::async_read(sock, asio::buffer(respbuf.data(), s.resp), kTok);
  co_return !rec;
}

void run_loop(const Settings& s, bool connrate) {
  asio::io_context io;
  Totals t;
  const int workers = connrate ? s.parallel : s.conns;
  Clock::time_point start, measure_from, until;
  int done_workers = 0;
  std::string last_error;
  auto worker = [&]() -> asio::awaitable<void> {
    std::vector<char> reqbuf(s.req, 'q'), respbuf(s.resp);
    auto http = std::make_unique<HttpReader>();
    tcp::socket sock(io);
    if (!connrate) {
      auto ec = co_await connect(sock, s.target, std::chrono::seconds(5));
      if (ec) {
        ++t.errors;
        last_error = ec.message();
        ++done_workers;
        co_return;
      }
    }
    while (Clock::now() < until) {
      auto t0 = Clock::now();
      if (connrate) {
        sock = tcp::socket(io);
        http = std::make_unique<HttpReader>();
        auto ec = co_await connect(sock, s.target, std::chrono::seconds(2));
        if (ec) {
          ++t.errors;
          last_error = ec.message();
          continue;
        }
      }
      ++t.sent;
      bool ok = co_await one_request(sock, s, reqbuf, respbuf, *http);
      if (!ok) {
        ++t.errors;
        if (!connrate) break;
        continue;
      }
      ++t.completed;
      auto now = Clock::now();
      if (t0 >= measure_from) {
        ++t.measured;
        t.lat.add(now - t0);
      }
      if (connrate) {
        boost::system::error_code ignored;
        sock.shutdown(tcp::socket::shutdown_both, ignored);
        sock.close(ignored);
      }
    }
    ++done_workers;
  };
  start = Clock::now();
  measure_from = start + s.warmup;
  until = measure_from + s.duration;
  for (int i = 0; i < workers; ++i) asio::co_spawn(io, worker(), asio::detached);
  // Bounded: a worker stuck in I/O past the drain time is abandoned with the io_context.
  while (done_workers < workers && Clock::now() < until + s.drain) {
    io.run_one_for(std::chrono::milliseconds(50));
  }
  t.unfinished = static_cast<std::uint64_t>(workers - done_workers);
  double window = seconds(s.duration);
  std::cout << "{\"mode\":\"" << (connrate ? "connrate" : "closed")
            << "\",\"http\":" << (s.http ? "true" : "false") << ",\"conns\":" << workers
            << ",\"duration_s\":" << window << ",\"sent\":" << t.sent
            << ",\"completed\":" << t.completed << ",\"errors\":" << t.errors
            << ",\"unfinished\":" << t.unfinished
            << ",\"achieved_rps\":" << static_cast<double>(t.measured) / window
            << ",\"last_error\":\"" << last_error << "\""
            << ",\"latency_us\":" << t.lat.json() << "}" << std::endl;
}

void run_bulk(const Settings& s) {
  asio::io_context io;
  std::uint64_t sent = 0, acknowledged = 0;
  double elapsed = 0;
  std::string error;
  auto op = [&]() -> asio::awaitable<void> {
    tcp::socket sock(io);
    auto ec = co_await connect(sock, s.target, std::chrono::seconds(5));
    if (ec) {
      error = "connect: " + ec.message();
      co_return;
    }
    std::vector<char> chunk(256 * 1024, 'b');
    auto start = Clock::now();
    auto until = start + s.duration;
    while (Clock::now() < until) {
      auto [wec, n] = co_await asio::async_write(sock, asio::buffer(chunk), kTok);
      sent += n;
      if (wec) {
        error = "write: " + wec.message();
        co_return;
      }
    }
    sock.shutdown(tcp::socket::shutdown_send, ec);
    std::string reply;
    char buf[64];
    for (;;) {
      auto [rec, n] = co_await sock.async_read_some(asio::buffer(buf), kTok);
      reply.append(buf, n);
      if (rec) break;
    }
    elapsed = seconds(Clock::now() - start);
    acknowledged = std::strtoull(reply.c_str(), nullptr, 10);
    if (acknowledged != sent) error = "the sink counted " + reply + " of " + std::to_string(sent);
  };
  asio::co_spawn(io, op(), asio::detached);
  io.run_for(s.duration + s.drain + std::chrono::seconds(5));
  double mbps = elapsed > 0 ? static_cast<double>(acknowledged) / elapsed / 1e6 : 0;
  std::cout << "{\"mode\":\"bulk\",\"bytes\":" << acknowledged << ",\"seconds\":" << elapsed
            << ",\"mb_per_s\":" << mbps << ",\"errors\":" << (error.empty() ? 0 : 1)
            << ",\"error\":\"" << error << "\"}" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  auto f = Flags::parse(argc, argv, kTool);
  if (f.mode.empty() || !f.has("target")) {
    die(kTool,
        "usage: strait-bench-load open|closed|bulk|connrate --target IP:PORT [--http 1] [...]");
  }
  Settings s;
  s.target = strait::bench::parse_endpoint(f.str("target"), kTool);
  s.rate = f.num("rate", 1000);
  s.conns = std::max(1, static_cast<int>(f.num("conns", 16)));
  s.parallel = std::max(1, static_cast<int>(f.num("parallel", 8)));
  s.req = static_cast<std::size_t>(f.num("req", 1024));
  s.resp = static_cast<std::size_t>(f.num("resp", 1024));
  auto secs = [](double v) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(v));
  };
  s.duration = secs(f.num("duration", 5));
  s.warmup = secs(f.num("warmup", 1));
  s.drain = secs(f.num("drain", 5));
  s.http = f.num("http", 0) != 0;
  s.http_request = "GET / HTTP/1.1\r\nHost: " + f.str("host", "bench") + "\r\n\r\n";
  if (s.http && f.mode == "bulk") die(kTool, "--http is for open, closed and connrate");
  if (s.rate <= 0 || seconds(s.duration) <= 0) die(kTool, "--rate and --duration must be > 0");
  if (f.mode == "open") {
    run_open(s);
  } else if (f.mode == "closed") {
    run_loop(s, false);
  } else if (f.mode == "connrate") {
    run_loop(s, true);
  } else if (f.mode == "bulk") {
    run_bulk(s);
  } else {
    die(kTool, "unknown mode " + f.mode);
  }
  return 0;
}
