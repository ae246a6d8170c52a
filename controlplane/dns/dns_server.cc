// DnsServer: listeners, the per-query decision (zones, forward, refuse) and the limits.
#include "controlplane/dns/dns_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "controlplane/dns/forwarder.h"
#include "controlplane/dns/message.h"
#include "controlplane/dns/rate_limiter.h"
#include "core/log/log.h"
#include "core/net/address.h"
#include "core/net/network.h"

namespace strait::controlplane::dns {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using asio::ip::udp;
using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

using Reply = std::function<void(std::vector<std::uint8_t>)>;

std::string source_of(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

Rcode rcode_of(const std::vector<std::uint8_t>& wire) {
  return wire.size() >= 4 ? static_cast<Rcode>(wire[3] & 0xf) : Rcode::kServFail;
}

struct Metrics {
  explicit Metrics(metrics::Registry& r)
      : queries(
            r.counter("dns_queries_total", "DNS messages received, by transport.", {"transport"})),
        responses(
            r.counter("dns_responses_total", "DNS responses sent, by response code.", {"rcode"})),
        refused(r.counter("dns_refused_total",
                          "DNS queries refused or dropped, by reason (malformed, opcode, class, "
                          "recursion_denied, no_upstream, rate_limited, tcp_connection_cap, ...).",
                          {"reason"})),
        forwarded(r.counter("dns_forwarded_total",
                            "Queries for names outside the cluster's zones sent upstream, by "
                            "outcome (answered, cached, timeout, overloaded, failed).",
                            {"outcome"})),
        tcp_connections(r.gauge("dns_tcp_connections", "Open DNS TCP connections.", {})),
        udp(queries.with({"udp"})),
        tcp(queries.with({"tcp"})) {
    for (auto rc : {Rcode::kNoError, Rcode::kNxDomain, Rcode::kServFail, Rcode::kRefused,
                    Rcode::kFormErr, Rcode::kNotImp}) {
      by_rcode[static_cast<int>(rc)] = responses.with({rcode_name(rc)});
    }
  }
  metrics::CounterFamily& queries;
  metrics::CounterFamily& responses;
  metrics::CounterFamily& refused;
  metrics::CounterFamily& forwarded;
  metrics::GaugeFamily& tcp_connections;
  metrics::Counter udp, tcp;
  std::map<int, metrics::Counter> by_rcode;

  void response(Rcode rc) {
    auto it = by_rcode.find(static_cast<int>(rc));
    if (it == by_rcode.end())
      it = by_rcode.emplace(static_cast<int>(rc), responses.with({rcode_name(rc)})).first;
    it->second.inc();
  }
};

class DnsServerImpl final : public DnsServer {
 public:
  DnsServerImpl(const DnsSettings& settings, const ZoneIndex& zones, metrics::Registry& registry)
      : settings_(settings), zones_(zones), metrics_(registry), limiter_(settings.rate_limit) {}

  ~DnsServerImpl() override { stop(); }

  Result<void> init() {
    if (!settings_.upstreams.empty()) {
      auto f = Forwarder::create(io_.get_executor(), {.upstreams = settings_.upstreams,
                                                      .timeout = settings_.forward_timeout,
                                                      .max_outstanding = settings_.max_outstanding,
                                                      .cache_entries = settings_.cache_entries});
      if (!f) return f.error();
      forwarder_ = std::move(*f);
    }
    for (const auto& listen : settings_.listen) {
      if (auto r = bind(listen); !r) return r;
    }
    for (auto& s : udp_) asio::co_spawn(io_, udp_loop(*s), asio::detached);
    for (auto& a : tcp_) asio::co_spawn(io_, accept_loop(*a), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
    return {};
  }

  std::vector<std::uint16_t> ports() const override { return ports_; }

  void stop() override {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      boost::system::error_code ec;
      for (auto& s : udp_) s->close(ec);
      for (auto& a : tcp_) a->close(ec);
      for (auto* c : connections_) c->close(ec);
      forwarder_.reset();  // on its own thread: no callback after this
    });
    // Every coroutine now ends (its socket closed, its forward dropped) and run() returns with
    // no work left: nothing of this object is touched after the join.
    thread_.join();
  }

 private:
  Result<void> bind(const std::string& listen) {
    auto hp = net::split_host_port(listen);
    if (!hp) return make_error("invalid_field", "listen.dns: " + hp.error().message);
    boost::system::error_code ec;
    auto address = asio::ip::make_address(hp->first, ec);
    if (ec) return make_error("invalid_field", "listen.dns: not an IP address: " + listen);
    // Port 0: UDP picks it, TCP follows; another process may hold that TCP port, so retry.
    for (int attempt = 0; attempt < 10; ++attempt) {
      auto u = std::make_unique<udp::socket>(io_);
      udp::endpoint uep(address, hp->second);
      if (u->open(uep.protocol(), ec); ec) break;
      if (u->bind(uep, ec); ec) break;
      const std::uint16_t port = u->local_endpoint(ec).port();
      u->non_blocking(true, ec);
      auto t = std::make_unique<tcp::acceptor>(io_);
      tcp::endpoint tep(address, port);
      if (t->open(tep.protocol(), ec); ec) break;
      t->set_option(asio::socket_base::reuse_address(true), ec);
      if (t->bind(tep, ec); ec) {
        if (hp->second == 0) continue;
        break;
      }
      if (t->listen(asio::socket_base::max_listen_connections, ec); ec) break;
      udp_.push_back(std::move(u));
      tcp_.push_back(std::move(t));
      ports_.push_back(port);
      return {};
    }
    return make_error("bind_failed", "listen.dns " + listen + ": " + ec.message());
  }

  // What happened to a message is logged at most once a second per reason, always counted.
  void refuse(const std::string& reason, const std::string& source) {
    metrics_.refused.with({reason}).inc();
    auto now = std::chrono::steady_clock::now();
    auto& last = last_logged_[reason];
    if (now - last < 1s) return;
    last = now;
    log::warn("dns query refused", {{"reason", reason}, {"source", source}});
  }

  bool recursion_allowed(const std::string& source) const {
    for (const auto& n : settings_.recursion_networks) {
      if (net::in_network(source, n)) return true;
    }
    return false;
  }

  // The decision for one message. reply runs once (maybe later, for forwarded queries) with
  // the response, or with nothing when the message is dropped.
  void handle(std::span<const std::uint8_t> wire, const std::string& source, bool tcp,
              Reply reply) {
    Parsed p = parse_query(wire);
    switch (p.kind) {
      case Parsed::Kind::kDrop:
        refuse(p.reason, source);
        reply({});
        return;
      case Parsed::Kind::kError:
        refuse(p.reason, source);
        metrics_.response(p.rcode);
        reply(build_error(p, p.rcode));
        return;
      case Parsed::Kind::kQuery:
        break;
    }
    const std::size_t limit = tcp ? kTcpMaxMessage : udp_limit(p.query);
    const bool recursion = forwarder_ && recursion_allowed(source);
    Answer a = zones_.lookup(p.query.name, static_cast<RrType>(p.query.type));
    if (a.status != Answer::Status::kOutside) {
      auto out = build_answer(p.query, a, {.max_size = limit, .recursion_available = recursion});
      metrics_.response(rcode_of(out));
      reply(std::move(out));
      return;
    }
    if (!forwarder_ || !recursion || !p.query.recursion_desired) {
      refuse(!forwarder_  ? "no_upstream"
             : !recursion ? "recursion_denied"
                          : "not_authoritative",
             source);
      metrics_.response(Rcode::kRefused);
      reply(build_error(p, Rcode::kRefused));
      return;
    }
    forwarder_->forward(wire, [this, p, limit, reply = std::move(reply)](
                                  Forwarder::Outcome outcome, std::vector<std::uint8_t> resp) {
      static constexpr const char* kOutcome[] = {"answered", "cached", "timeout", "overloaded",
                                                 "failed"};
      metrics_.forwarded.with({kOutcome[static_cast<int>(outcome)]}).inc();
      if (resp.empty()) {
        metrics_.response(Rcode::kServFail);
        reply(build_error(p, Rcode::kServFail));
        return;
      }
      if (resp.size() > limit) resp = build_truncated(p.query);
      metrics_.response(rcode_of(resp));
      reply(std::move(resp));
    });
  }

  awaitable<void> udp_loop(udp::socket& s) {
    std::vector<std::uint8_t> buf(65536);
    for (;;) {
      udp::endpoint from;
      auto [ec, n] = co_await s.async_receive_from(asio::buffer(buf), from, kTuple);
      if (ec == asio::error::operation_aborted || !s.is_open()) co_return;
      if (ec) continue;  // ICMP errors of earlier sends surface here on Linux
      metrics_.udp.inc();
      const std::string source = source_of(from.address());
      handle({buf.data(), n}, source, false,
             [this, &s, from, source](std::vector<std::uint8_t> out) {
               if (out.empty()) return;
               switch (limiter_.check(source)) {
                 case RateLimiter::Verdict::kAllow:
                   break;
                 case RateLimiter::Verdict::kSlip: {
                   refuse("rate_limited", source);
                   // The same answer, emptied and marked truncated: ask again over TCP.
                   if (out.size() < 12) return;
                   out.resize(12);
                   out[2] |= 0x02;
                   out[4] = out[5] = 0;  // no question either: as small as it gets
                   out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
                   break;
                 }
                 case RateLimiter::Verdict::kDrop:
                   refuse("rate_limited", source);
                   return;
               }
               boost::system::error_code sec;
               s.send_to(asio::buffer(out), from, 0, sec);  // non-blocking: a full buffer drops
             });
    }
  }

  awaitable<void> accept_loop(tcp::acceptor& a) {
    for (;;) {
      auto [ec, sock] = co_await a.async_accept(kTuple);
      if (ec == asio::error::operation_aborted || !a.is_open()) co_return;
      if (ec) continue;
      if (connections_.size() >= settings_.max_tcp_connections) {
        boost::system::error_code pec;
        auto peer = sock.remote_endpoint(pec);
        refuse("tcp_connection_cap", pec ? std::string("?") : source_of(peer.address()));
        sock.close(pec);
        continue;
      }
      asio::co_spawn(io_, serve_tcp(std::move(sock)), asio::detached);
    }
  }

  // Reads exactly buf.size() bytes before the deadline.
  static awaitable<bool> read_by(tcp::socket& s, asio::mutable_buffer buf,
                                 std::chrono::steady_clock::time_point deadline) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer t(s.get_executor(), deadline);
    auto r = co_await (asio::async_read(s, buf, kTuple) || t.async_wait(kTuple));
    if (r.index() != 0) co_return false;
    co_return !std::get<0>(std::get<0>(r));
  }

  awaitable<std::vector<std::uint8_t>> answer(std::span<const std::uint8_t> wire,
                                              const std::string& source) {
    return asio::async_initiate<decltype(asio::use_awaitable), void(std::vector<std::uint8_t>)>(
        [this, wire, source](auto handler) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          handle(wire, source, true, [this, h](std::vector<std::uint8_t> out) {
            asio::post(io_, [h, out = std::move(out)]() mutable { (*h)(std::move(out)); });
          });
        },
        asio::use_awaitable);
  }

  awaitable<void> serve_tcp(tcp::socket s) {
    connections_.insert(&s);
    auto gauge = metrics_.tcp_connections.with({});
    gauge.inc();
    struct Done {
      DnsServerImpl* self;
      tcp::socket* s;
      metrics::Gauge g;
      ~Done() {
        self->connections_.erase(s);
        g.dec();
      }
    } done{this, &s, gauge};
    boost::system::error_code ec;
    const auto peer = s.remote_endpoint(ec);
    if (ec) co_return;
    const std::string source = source_of(peer.address());
    std::vector<std::uint8_t> buf;
    for (;;) {
      // A whole query within the idle deadline, from its first byte on.
      const auto deadline = std::chrono::steady_clock::now() + settings_.tcp_idle;
      std::uint8_t len[2];
      if (!co_await read_by(s, asio::buffer(len), deadline)) break;
      metrics_.tcp.inc();
      const std::size_t n = static_cast<std::size_t>(len[0] << 8 | len[1]);
      if (n < 12 || n > kMaxQuerySize) {
        refuse(n < 12 ? "short" : "oversized", source);
        break;
      }
      buf.resize(n);
      if (!co_await read_by(s, asio::buffer(buf), deadline)) break;
      auto out = co_await answer(buf, source);
      if (out.empty()) break;
      const std::uint8_t head[2] = {static_cast<std::uint8_t>(out.size() >> 8),
                                    static_cast<std::uint8_t>(out.size() & 0xff)};
      std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(out)};
      using namespace asio::experimental::awaitable_operators;
      asio::steady_timer t(s.get_executor(), settings_.tcp_idle);
      auto w = co_await (asio::async_write(s, bufs, kTuple) || t.async_wait(kTuple));
      if (w.index() != 0 || std::get<0>(std::get<0>(w))) break;
    }
    s.close(ec);
  }

  const DnsSettings settings_;
  const ZoneIndex& zones_;
  Metrics metrics_;
  asio::io_context io_;
  std::unique_ptr<Forwarder> forwarder_;
  std::vector<std::unique_ptr<udp::socket>> udp_;
  std::vector<std::unique_ptr<tcp::acceptor>> tcp_;
  std::set<tcp::socket*> connections_;
  std::vector<std::uint16_t> ports_;
  RateLimiter limiter_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_logged_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<DnsServer>> DnsServer::start(const DnsSettings& settings,
                                                    const ZoneIndex& zones,
                                                    metrics::Registry& registry) {
  auto s = std::make_unique<DnsServerImpl>(settings, zones, registry);
  if (auto r = s->init(); !r) return r.error();
  return std::unique_ptr<DnsServer>(std::move(s));
}

}  // namespace strait::controlplane::dns
