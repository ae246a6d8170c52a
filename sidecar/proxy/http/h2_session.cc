// The I/O of the HTTP/2 sessions: run_io drives a connection core over an AnyStream (a reader,
// a writer woken by a kick, a watchdog for the timers), and the public H2Server and H2Client
// wrap the cores (h2_server.cc, h2_client.cc) for the proxy.
#include "sidecar/proxy/http/h2_session.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

#include "sidecar/proxy/http/h2_core.h"
#include "sidecar/proxy/stream.h"

namespace strait::proxy::http {
namespace h2 {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

// How long a finished connection keeps reading (for the peer's close) before closing.
constexpr auto kLinger = std::chrono::seconds(1);

// A GOAWAY(PROTOCOL_ERROR, last stream 0) for a peer whose preface was not HTTP/2: nghttp2
// sends nothing after a bad client magic.
constexpr std::uint8_t kGoawayProtocolError[] = {0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

struct IoLoop {
  std::shared_ptr<Core> core;
  AnyStream& stream;
  asio::steady_timer kick;
  asio::steady_timer tick;
  bool reader_done = false;
  bool writer_done = false;

  IoLoop(std::shared_ptr<Core> c, AnyStream& s, const asio::any_io_executor& ex)
      : core(std::move(c)),
        stream(s),
        kick(ex, asio::steady_timer::time_point::max()),
        tick(ex, asio::steady_timer::time_point::max()) {}

  void feed(const std::uint8_t* p, std::size_t n) {
    if (!core->dead()) core->feed(p, n);
  }

  asio::awaitable<void> reader(std::string prefix) {
    feed(reinterpret_cast<const std::uint8_t*>(prefix.data()), prefix.size());
    std::vector<std::uint8_t> buf(32 * 1024);
    while (true) {
      auto [ec, n] = co_await stream.read_some(asio::buffer(buf));
      if (n > 0) feed(buf.data(), n);
      if (ec) {
        core->connection_lost(ec == asio::error::eof ? "eof" : ec.message());
        break;
      }
    }
    reader_done = true;
    kick.cancel();
  }

  asio::awaitable<void> writer() {
    bool graceful = false;
    while (true) {
      if (core->hard_close()) break;
      std::string out = core->take_output();
      if (!out.empty()) {
        if (auto ec = co_await stream.write_all(asio::buffer(out))) {
          core->connection_lost("write: " + ec.message());
          break;
        }
        continue;
      }
      if (core->finished()) {
        graceful = !core->hard_close();
        break;
      }
      kick.expires_at(asio::steady_timer::time_point::max());
      co_await kick.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (core->bad_preface()) {
      co_await stream.write_all(asio::buffer(kGoawayProtocolError));
      graceful = true;
    }
    if (graceful && !reader_done) {
      // Half-close, then give the peer a moment to see our last frames and close its side
      // (closing with unread input would reset the connection and could lose the GOAWAY).
      co_await stream.shutdown_write();
      const auto until = Clock::now() + kLinger;
      while (!reader_done && Clock::now() < until) {
        kick.expires_at(until);
        co_await kick.async_wait(asio::as_tuple(asio::use_awaitable));
      }
    }
    stream.close();
    writer_done = true;
    tick.cancel();
  }

  asio::awaitable<void> watchdog() {
    while (!writer_done) {
      const auto next = core->on_tick(Clock::now());
      if (core->hard_close()) {
        stream.close();  // ends a write the peer does not take, and the pending read
        kick.cancel();
      }
      if (writer_done) break;
      tick.expires_after(next);
      co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
};

}  // namespace

asio::awaitable<void> run_io(std::shared_ptr<Core> core, AnyStream& stream, std::string prefix) {
  auto ex = co_await asio::this_coro::executor;
  IoLoop loop(core, stream, ex);
  core->set_wake([&loop] { loop.kick.cancel(); });
  co_await (loop.reader(std::move(prefix)) && loop.writer() && loop.watchdog());
  core->set_wake({});
  core->connection_lost("closed");
}

}  // namespace h2

// ---- H2Server

H2Server::H2Server(boost::asio::any_io_executor ex, H2Limits limits, Handler handler,
                   RefusalSink sink)
    : core_(h2::make_server_core(std::move(ex), limits, std::move(handler), std::move(sink))) {}

H2Server::~H2Server() {
  if (core_) core_->abort_connection("server destroyed");
}

boost::asio::awaitable<void> H2Server::run(AnyStream& stream, std::string prefix) {
  if (!core_) {
    stream.close();
    co_return;
  }
  co_await h2::run_io(core_, stream, std::move(prefix));
}

void H2Server::drain() {
  if (core_) core_->drain();
}

std::size_t H2Server::active_streams() const { return core_ ? core_->open_streams() : 0; }

boost::asio::awaitable<void> H2Server::serve(AnyStream& stream, std::string prefix, H2Limits limits,
                                             Handler handler, RefusalSink sink) {
  auto ex = co_await boost::asio::this_coro::executor;
  H2Server server(ex, limits, std::move(handler), std::move(sink));
  co_await server.run(stream, std::move(prefix));
}

// ---- H2Client

std::shared_ptr<H2Client> H2Client::start(boost::asio::any_io_executor ex,
                                          std::unique_ptr<AnyStream> stream, H2Limits limits,
                                          RefusalSink sink) {
  auto core = h2::ClientCore::create(ex, std::move(stream), limits, std::move(sink));
  boost::asio::co_spawn(ex, h2::run_io(core, core->stream(), {}), boost::asio::detached);
  return std::shared_ptr<H2Client>(new H2Client(std::move(core)));
}

H2Client::~H2Client() { core_->drain(); }

boost::asio::awaitable<Result<Response>> H2Client::send(Request request) {
  auto core = core_;  // the connection outlives this call even if the client is dropped
  co_return co_await core->send(std::move(request));
}

bool H2Client::usable() const { return core_->usable(); }
std::size_t H2Client::active_streams() const { return core_->open_streams(); }
void H2Client::close() { core_->abort_connection("closed by the client"); }
void H2Client::drain() { core_->drain(); }

}  // namespace strait::proxy::http
