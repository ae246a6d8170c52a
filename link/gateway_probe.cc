// GatewayProbe: one coroutine per link; a probe is TCP connect, TLS 1.3 with the link
// credential, a hand-written HTTP/1.1 GET and the status line, all under one deadline.
#include "link/gateway_probe.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <random>

#include "core/tls/tls_stream.h"

namespace strait::link {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

// Shared with the deadline's handler, which may run after the probe's frame is gone.
struct Conn {
  explicit Conn(asio::any_io_executor ex) : socket(ex), deadline(ex) {}
  tcp::socket socket;
  std::unique_ptr<tls::TlsStream> tls;
  asio::steady_timer deadline;
  bool timed_out = false;
  void close() {
    if (tls) {
      tls->close();
    } else {
      boost::system::error_code ec;
      socket.close(ec);
    }
  }
};

}  // namespace

asio::awaitable<Result<std::chrono::microseconds>> probe_once(ProbeRequest req) {
  auto ex = co_await asio::this_coro::executor;
  const auto started = std::chrono::steady_clock::now();
  boost::system::error_code ec;
  auto address = asio::ip::make_address(req.address, ec);
  if (ec) co_return make_error("bad_address", "not an IP address: " + req.address);
  auto conn = std::make_shared<Conn>(ex);
  conn->deadline.expires_after(req.timeout);
  conn->deadline.async_wait([conn](boost::system::error_code e) {
    if (e) return;
    conn->timed_out = true;
    conn->close();
  });
  auto fail = [&](std::string code, std::string message) -> Result<std::chrono::microseconds> {
    conn->deadline.cancel();
    conn->close();
    if (conn->timed_out) {
      return make_error("timeout", "no answer from " + req.address + " within " +
                                       std::to_string(req.timeout.count()) + "ms");
    }
    return make_error(std::move(code), std::move(message));
  };
  const std::string where = req.address + ":" + std::to_string(req.port);
  auto [cec] = co_await conn->socket.async_connect(tcp::endpoint(address, req.port), kAwait);
  if (cec) co_return fail("connect_failed", "connect to " + where + ": " + cec.message());
  // The request follows the handshake's last flight at once: without this, Nagle holds it for
  // the gateway's delayed ACK and every probe measures ~40 ms more than the gateway takes.
  boost::system::error_code nodelay_ec;
  conn->socket.set_option(tcp::no_delay(true), nodelay_ec);
  conn->tls = std::make_unique<tls::TlsStream>(std::move(conn->socket), req.context,
                                               tls::TlsStream::Role::kClient);
  if (!req.expected_identity.empty()) {
    auto id = identity::SpiffeId::parse(req.expected_identity);
    if (!id) co_return fail("tls_failed", "gateway identity: " + id.error().message);
    tls::expect_peer_identity(conn->tls->native_handle(), *id);
  }
  if (auto hec = co_await conn->tls->handshake(); hec) {
    auto why = tls::peer_verify_error(conn->tls->native_handle());
    co_return fail("tls_failed",
                   "TLS with " + where + ": " + (why ? why->to_string() : hec.message()));
  }
  const std::string request = "GET " + req.path + " HTTP/1.1\r\nHost: " + where +
                              "\r\nUser-Agent: strait-link\r\nConnection: close\r\n\r\n";
  if (auto wec = co_await conn->tls->write_all(asio::buffer(request)); wec) {
    co_return fail("read_failed", "write to " + where + ": " + wec.message());
  }
  std::string in;
  char buf[1024];
  while (in.find("\r\n") == std::string::npos && in.size() < 4096) {
    auto [rec, n] = co_await conn->tls->read_some(asio::buffer(buf));
    in.append(buf, n);
    if (rec) break;
  }
  auto eol = in.find("\r\n");
  if (eol == std::string::npos) co_return fail("read_failed", "no status line from " + where);
  const std::string line = in.substr(0, eol);
  // "HTTP/1.1 200 OK"
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12 || line[8] != ' ' || line[9] != '2') {
    co_return fail("bad_status", where + " answered \"" + line + "\"");
  }
  conn->deadline.cancel();
  conn->close();
  co_return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                  started);
}

struct GatewayProbe::State {
  explicit State(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  bool stopped = true;
  bool alive = true;
  std::uint32_t failures = 0;
  std::vector<std::string> addresses;
  discovery::ProbeSpec spec;
  std::string identity;
  tls::ContextPtr context;
  Callbacks callbacks;
  std::uint64_t generation = 0;  // a restart leaves the older loop to end by itself
  std::mt19937 rng{std::random_device{}()};
};

namespace {

asio::awaitable<void> run_probe(std::shared_ptr<GatewayProbe::State> s, std::uint64_t generation);

}  // namespace

GatewayProbe::GatewayProbe(asio::any_io_executor executor, Callbacks callbacks)
    : state_(std::make_shared<State>(executor)), executor_(executor) {
  state_->callbacks = std::move(callbacks);
}

GatewayProbe::~GatewayProbe() { stop(); }

void GatewayProbe::configure(std::vector<std::string> addresses, discovery::ProbeSpec spec,
                             std::string expected_identity, tls::ContextPtr context) {
  state_->addresses = std::move(addresses);
  state_->spec = spec;
  state_->identity = std::move(expected_identity);
  state_->context = std::move(context);
}

void GatewayProbe::start() {
  if (!state_->stopped) return;
  state_->stopped = false;
  asio::co_spawn(executor_, run_probe(state_, ++state_->generation), asio::detached);
}

void GatewayProbe::stop() {
  state_->stopped = true;
  ++state_->generation;
  state_->timer.cancel();
}

bool GatewayProbe::alive() const { return state_->alive; }

namespace {

asio::awaitable<void> run_probe(std::shared_ptr<GatewayProbe::State> s, std::uint64_t generation) {
  auto current = [&] { return !s->stopped && s->generation == generation; };
  while (current()) {
    bool ok = false;
    if (s->context) {
      for (const auto& address : s->addresses) {
        ProbeRequest req{address,     s->spec.port, s->spec.path,
                         s->identity, s->context,   s->spec.timeout};
        auto r = co_await probe_once(req);
        if (!current()) co_return;
        if (s->callbacks.on_probe) {
          s->callbacks.on_probe(r ? "success" : r.error().code,
                                r ? std::chrono::duration<double, std::milli>(*r).count() : 0.0);
        }
        ok |= r.ok();
      }
    }
    if (s->context && !s->addresses.empty()) {
      if (ok) {
        s->failures = 0;
        if (!s->alive) {
          s->alive = true;
          if (s->callbacks.on_transition) s->callbacks.on_transition(true);
        }
      } else if (++s->failures >= std::max<std::uint32_t>(1, s->spec.failure_threshold) &&
                 s->alive) {
        s->alive = false;
        if (s->callbacks.on_transition) s->callbacks.on_transition(false);
      }
    }
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    s->timer.expires_after(
        std::chrono::duration_cast<std::chrono::milliseconds>(s->spec.period * jitter(s->rng)));
    co_await s->timer.async_wait(kAwait);
  }
}

}  // namespace

}  // namespace strait::link
