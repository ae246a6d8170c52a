// AdminServer: accept loop and per-connection sessions (Asio C++20 coroutines over Beast), routing,
// limits, refusal accounting and structured shutdown.
#include "core/admin/admin_server.h"

// GCC 12 misreports Asio's coroutine frame operator new/delete pair as mismatched (a known false
// positive with awaitable frames); the pair is Asio's own and does match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <atomic>
#include <map>
#include <mutex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "core/log/log.h"

namespace strait::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Lingering close after an error response: the peer may still be sending (an oversized header);
// closing with unread data would make the kernel send RST and the peer could lose our response.
constexpr std::chrono::milliseconds kLingerTimeout{1000};
constexpr std::size_t kLingerMaxBytes = 256 * 1024;

struct Route {
  Handler handler;
  bool loopback_only = false;
};

bool is_loopback(const asio::ip::address& a) {
  if (a.is_loopback()) return true;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  }
  return false;
}

std::string peer_string(const tcp::endpoint& ep) {
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

Response text(unsigned status, std::string body) {
  return Response{status, std::move(body) + "\n"};
}

}  // namespace

// The address connections are counted under: IPv4-mapped IPv6 peers count as their IPv4 address.
asio::ip::address source_of(const tcp::endpoint& ep) {
  const auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

struct Session {
  explicit Session(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  tcp::endpoint peer;
  asio::ip::address source;
  // True from a parsed request until its response is written. Only touched on the session's strand.
  // stop() lets such a response finish (it is bounded by the write deadline) instead of cutting it.
  bool answering = false;
};

struct AdminServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, metrics::Registry& reg, AdminOptions o)
      : ioc(io),
        registry(reg),
        opts(std::move(o)),
        strand(asio::make_strand(io)),
        acceptor(strand),
        refused(reg.counter("admin_requests_refused_total",
                            "Admin connections and requests refused, by reason.", {"reason"})) {
    // Every reason exists from the start, so a dashboard sees 0 rather than nothing.
    for (const char* r : {"too_many_connections", "too_many_from_source", "header_too_large",
                          "body_too_large", "read_timeout", "bad_request", "forbidden"}) {
      refused.with({r});
    }
  }

  asio::io_context& ioc;
  metrics::Registry& registry;
  const AdminOptions opts;
  log::Logger logger{"admin"};
  asio::strand<asio::io_context::executor_type> strand;  // the acceptor's
  tcp::acceptor acceptor;
  metrics::CounterFamily& refused;

  std::atomic<std::uint16_t> bound_port{0};
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> open{0};

  mutable std::mutex mu;  // guards everything below
  std::map<std::string, std::map<http::verb, std::shared_ptr<const Route>>> routes;
  std::shared_ptr<const ReadinessCheck> readiness;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions;
  std::map<asio::ip::address, std::size_t> per_source;  // open connections by source address
  std::uint64_t next_session = 0;

  // Every refusal is counted; the log gets at most one line per reason per second (with how
  // many were not logged), so that a flood of refused connections cannot flood the log too.
  void refuse(std::string_view reason, const tcp::endpoint& peer, std::string_view detail = "") {
    refused.with({std::string(reason)}).inc();
    std::uint64_t dropped = 0;
    if (!log_limit.allow(reason, &dropped)) return;
    logger.warn("admin request refused", {{"reason", reason},
                                          {"peer", peer_string(peer)},
                                          {"detail", detail},
                                          {"not_logged_since", dropped}});
  }
  log::RateLimit log_limit;

  Response route(const Request& req);
  awaitable<void> accept_loop();
  awaitable<void> run_session(std::shared_ptr<Session> s);
  awaitable<void> linger_close(Session& s);
  // Why a new connection from `source` must be refused ("" to admit it). Called with mu held.
  std::string_view admission_locked(const asio::ip::address& source) const;
  void session_done(std::uint64_t id, const asio::ip::address& source);
  void close_all();
};

Response AdminServer::Impl::route(const Request& req) {
  std::shared_ptr<const Route> r;
  std::string allow;
  {
    std::lock_guard lock(mu);
    auto it = routes.find(req.path);
    if (it == routes.end()) return text(404, "not found");
    auto m = it->second.find(req.method);
    if (m == it->second.end()) {
      for (const auto& [verb, _] : it->second)
        allow += (allow.empty() ? "" : ", ") + std::string(http::to_string(verb));
      Response res = text(405, "method not allowed; allowed: " + allow);
      res.headers.emplace_back("Allow", allow);
      return res;
    }
    r = m->second;
  }
  if (r->loopback_only && !is_loopback(req.peer.address())) {
    refuse("forbidden", req.peer, req.path);
    return text(403, "forbidden: " + req.path + " is served on loopback only");
  }
  try {
    return r->handler(req);
  } catch (const std::exception& e) {
    logger.error("admin handler failed", {{"path", req.path}, {"error", e.what()}});
    return text(500, "internal error");
  }
}

awaitable<void> AdminServer::Impl::accept_loop() {
  auto self = shared_from_this();  // the loop owns the state it runs on
  for (;;) {
    tcp::socket socket(asio::make_strand(ioc));  // each session runs on its own strand
    auto [ec] = co_await acceptor.async_accept(socket, use_tuple);
    if (stopping.load()) break;
    if (ec) {
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
      // Out of descriptors and the like: back off instead of spinning.
      logger.warn("admin accept failed", {{"error", ec.message()}});
      asio::steady_timer t(strand, std::chrono::milliseconds(100));
      co_await t.async_wait(use_tuple);
      continue;
    }
    beast::error_code ignored;
    tcp::endpoint peer = socket.remote_endpoint(ignored);
    const asio::ip::address source = source_of(peer);
    auto s = std::make_shared<Session>(std::move(socket));
    s->peer = peer;
    s->source = source;
    std::uint64_t id;
    std::string_view refusal;
    {
      std::lock_guard lock(mu);
      if (stopping.load()) break;  // stop() already walked the sessions: do not add one it missed
      refusal = admission_locked(source);
      if (refusal.empty()) {
        id = next_session++;
        sessions.emplace(id, s);
        ++per_source[source];
        open.fetch_add(1);
      }
    }
    if (!refusal.empty()) {
      refuse(refusal, peer,
             refusal == "too_many_from_source" ? std::to_string(opts.max_connections_per_source) +
                                                     " open from " + source.to_string()
                                               : std::to_string(open.load()) + " open");
      s->stream.socket().close(ignored);
      continue;
    }
    auto ex = s->stream.get_executor();
    asio::co_spawn(ex, run_session(std::move(s)), [self, id, source](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          self->logger.error("admin session failed", {{"error", ex.what()}});
        } catch (...) {
          self->logger.error("admin session failed");
        }
      }
      self->session_done(id, source);
    });
  }
  beast::error_code ignored;
  acceptor.close(ignored);
}

std::string_view AdminServer::Impl::admission_locked(const asio::ip::address& source) const {
  if (auto it = per_source.find(source);
      it != per_source.end() && it->second >= opts.max_connections_per_source) {
    return "too_many_from_source";
  }
  const std::size_t cap = opts.max_connections + (source.is_loopback() ? opts.loopback_reserve : 0);
  if (open.load() >= cap) return "too_many_connections";
  return {};
}

void AdminServer::Impl::session_done(std::uint64_t id, const asio::ip::address& source) {
  std::lock_guard lock(mu);
  sessions.erase(id);
  if (auto it = per_source.find(source); it != per_source.end() && --it->second == 0) {
    per_source.erase(it);
  }
  open.fetch_sub(1);
}

awaitable<void> AdminServer::Impl::linger_close(Session& s) {
  beast::error_code ec;
  s.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  s.stream.expires_after(kLingerTimeout);
  char sink[4096];
  std::size_t drained = 0;
  while (!ec && drained < kLingerMaxBytes && !stopping.load()) {
    auto [rec, n] = co_await s.stream.async_read_some(asio::buffer(sink), use_tuple);
    ec = rec;
    drained += n;
  }
  s.stream.close();
}

awaitable<void> AdminServer::Impl::run_session(std::shared_ptr<Session> s) {
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    if (stopping.load()) break;
    // Wait for the first byte of the next request. A fresh connection gets the read deadline, a
    // kept-alive one the idle deadline; going quiet between requests is normal, not a refusal.
    if (buffer.size() == 0) {
      s->stream.expires_after(first ? opts.read_timeout : opts.idle_timeout);
      auto [ec, n] = co_await s->stream.async_read_some(buffer.prepare(4096), use_tuple);
      if (ec) {
        if (ec == beast::error::timeout && first) refuse("read_timeout", s->peer, "no request");
        break;
      }
      buffer.commit(n);
    }
    first = false;

    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opts.header_limit));
    parser.body_limit(opts.body_limit);
    s->stream.expires_after(opts.read_timeout);
    auto [ec, n] = co_await http::async_read(s->stream, buffer, parser, use_tuple);
    if (ec) {
      Response err;
      if (ec == http::error::header_limit) {
        refuse("header_too_large", s->peer,
               "limit " + std::to_string(opts.header_limit) + " bytes");
        err = text(431, "request header fields too large");
      } else if (ec == http::error::body_limit) {
        refuse("body_too_large", s->peer, "limit " + std::to_string(opts.body_limit) + " bytes");
        err = text(413, "payload too large");
      } else if (ec == beast::error::timeout) {
        refuse("read_timeout", s->peer, "incomplete request");
        break;  // the stream closed itself on the deadline
      } else if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor ||
                 ec == http::error::end_of_stream || ec == http::error::partial_message ||
                 ec == asio::error::eof || ec == asio::error::connection_reset) {
        break;  // closed by the peer or by stop()
      } else {
        refuse("bad_request", s->peer, ec.message());
        err = text(400, "bad request");
      }
      http::response<http::string_body> res{static_cast<http::status>(err.status), 11};
      res.set(http::field::content_type, err.content_type);
      res.set(http::field::connection, "close");
      res.body() = std::move(err.body);
      res.prepare_payload();
      s->stream.expires_after(opts.write_timeout);
      auto [wec, wn] = co_await http::async_write(s->stream, res, use_tuple);
      if (!wec) co_await linger_close(*s);
      break;
    }

    s->answering = true;
    auto msg = parser.release();
    Request req;
    req.method = msg.method();
    std::string_view target = msg.target();
    std::size_t q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
    req.body = std::move(msg.body());
    req.peer = s->peer;
    Response r = route(req);

    bool keep_alive = msg.keep_alive() && !stopping.load();
    http::response<http::string_body> res{static_cast<http::status>(r.status), msg.version()};
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : r.headers) res.set(name, value);
    res.body() = std::move(r.body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    s->stream.expires_after(opts.write_timeout);
    auto [wec, wn] = co_await http::async_write(s->stream, res, use_tuple);
    s->answering = false;
    if (wec || !keep_alive || stopping.load()) break;
  }
  beast::error_code ignored;
  s->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  s->stream.close();
}

void AdminServer::Impl::close_all() {
  std::vector<std::shared_ptr<Session>> open_sessions;
  {
    std::lock_guard lock(mu);
    for (auto& [id, w] : sessions) {
      if (auto s = w.lock()) open_sessions.push_back(std::move(s));
    }
  }
  // Close each on its own strand, so the close never races the session's own operations.
  for (auto& s : open_sessions) {
    asio::post(s->stream.get_executor(), [s] {
      if (s->answering) return;  // it closes itself after this response (keep-alive is off now)
      beast::error_code ignored;
      s->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      s->stream.close();
    });
  }
  asio::post(strand, [self = shared_from_this()] {
    beast::error_code ignored;
    self->acceptor.close(ignored);
  });
}

AdminServer::AdminServer(asio::io_context& ioc, metrics::Registry& registry, AdminOptions options)
    : impl_(std::make_shared<Impl>(ioc, registry, std::move(options))) {
  Impl* impl = impl_.get();  // routes live inside Impl: a raw pointer cannot dangle or cycle
  add_handler(http::verb::get, "/live", [](const Request&) { return text(200, "live"); });
  add_handler(http::verb::get, "/ready", [impl](const Request&) {
    std::shared_ptr<const ReadinessCheck> check;
    {
      std::lock_guard lock(impl->mu);
      check = impl->readiness;
    }
    if (!check) return text(503, "not ready: starting");
    Result<void> r = (*check)();
    if (r.ok()) return text(200, "ready");
    return text(503, "not ready: " + r.error().message);
  });
  add_handler(http::verb::get, "/metrics", [impl](const Request&) {
    return Response{200, impl->registry.expose(), std::string(metrics::kContentType)};
  });
}

AdminServer::~AdminServer() { stop(); }

Result<void> AdminServer::start() {
  Impl& im = *impl_;
  beast::error_code ec;
  auto addr = asio::ip::make_address(im.opts.address, ec);
  if (ec)
    return make_error("admin_bad_address",
                      "admin address \"" + im.opts.address + "\": " + ec.message());
  tcp::endpoint ep(addr, im.opts.port);
  std::string where = peer_string(ep);
  im.acceptor.open(ep.protocol(), ec);
  if (!ec) im.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) im.acceptor.bind(ep, ec);
  if (!ec) im.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    im.acceptor.close(ignored);
    return make_error("admin_bind_failed", "cannot listen on " + where + ": " + ec.message());
  }
  im.bound_port = im.acceptor.local_endpoint(ec).port();
  im.logger.info("admin listening", {{"address", im.opts.address}, {"port", im.bound_port.load()}});
  asio::co_spawn(im.strand, im.accept_loop(), [](std::exception_ptr e) {
    if (e) log::error("admin accept loop failed");
  });
  return {};
}

std::uint16_t AdminServer::port() const { return impl_->bound_port.load(); }

void AdminServer::set_readiness(ReadinessCheck check) {
  auto p = check ? std::make_shared<const ReadinessCheck>(std::move(check)) : nullptr;
  std::lock_guard lock(impl_->mu);
  impl_->readiness = std::move(p);
}

void AdminServer::add_handler(http::verb method, std::string path, Handler handler,
                              bool loopback_only) {
  auto r = std::make_shared<const Route>(Route{std::move(handler), loopback_only});
  std::lock_guard lock(impl_->mu);
  impl_->routes[std::move(path)][method] = std::move(r);
}

void AdminServer::stop() {
  if (impl_->stopping.exchange(true)) return;
  impl_->close_all();
}

std::size_t AdminServer::open_connections() const { return impl_->open.load(); }

}  // namespace strait::admin
