// Explicit mode: reading the CONNECT request under its deadline, answering, and the hand-over
// to forward_outbound.
#include "sidecar/proxy/explicit.h"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>

#include "sidecar/proxy/h2_pool.h"
#include "sidecar/proxy/outbound.h"

namespace strait::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace asio::experimental::awaitable_operators;

namespace {

// After a refusal the client may still be sending (oversized headers): read and drop what
// comes for a moment so that closing does not reset the connection before it read the answer.
constexpr milliseconds kLingerMax{2000};
constexpr std::size_t kLingerBytes = 256 * 1024;

// By value: coroutine parameters must not refer to the caller's temporaries.
asio::awaitable<boost::system::error_code> write_within(tcp::socket& s, std::string data,
                                                        milliseconds timeout) {
  auto r = co_await (asio::async_write(s, asio::buffer(data), kTuple) || sleep_for(timeout));
  if (r.index() == 1) co_return asio::error::timed_out;
  co_return std::get<0>(std::get<0>(r));
}

// Sends a refusal, ends our side, lets the client read it, closes.
asio::awaitable<void> answer_and_close(ProxyContext& ctx, tcp::socket& app, std::string response) {
  boost::system::error_code ec;
  if (co_await write_within(app, std::move(response), ctx.config.handshake_timeout)) {
    app.close(ec);
    co_return;
  }
  app.shutdown(tcp::socket::shutdown_send, ec);
  const auto until = Clock::now() + std::min(ctx.config.handshake_timeout, kLingerMax);
  std::size_t dropped = 0;
  char buf[4096];
  while (dropped < kLingerBytes) {
    auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
    if (left <= milliseconds::zero()) break;
    auto r = co_await (app.async_read_some(asio::buffer(buf), kTuple) || sleep_for(left));
    if (r.index() == 1) break;
    auto [rec, n] = std::get<0>(r);
    if (rec) break;
    dropped += n;
  }
  app.close(ec);
}

class ConnectReply final : public OutboundReply {
 public:
  ConnectReply(ProxyContext& ctx, std::string early) : ctx_(ctx), early_(std::move(early)) {}

  asio::awaitable<void> refused(tcp::socket& app, int status, const Error& why) override {
    co_await answer_and_close(ctx_, app, connect_response(status, why.code, why.message));
  }
  asio::awaitable<boost::system::error_code> established(tcp::socket& app) override {
    co_return co_await write_within(app, connect_response(200), ctx_.config.handshake_timeout);
  }
  std::string early_data() override { return std::move(early_); }

 private:
  ProxyContext& ctx_;
  std::string early_;
};

}  // namespace

asio::awaitable<void> serve_explicit(ProxyContext& ctx, tcp::socket app) {
  auto member = ctx.connections.join();
  member.hold(app.native_handle());
  boost::system::error_code ec;
  app.set_option(tcp::no_delay(true), ec);
  const std::string source = to_string(app.remote_endpoint(ec));
  const auto deadline = Clock::now() + ctx.config.handshake_timeout;

  std::string buf;
  ConnectParse parsed;
  bool closed = false;
  char chunk[4096];
  for (;;) {
    parsed = parse_connect(buf, kMaxConnectHeadBytes);
    if (!std::holds_alternative<std::monostate>(parsed)) break;
    if (closed) {
      ctx.refuse("outbound", "closed_early",
                 source + (buf.empty() ? ": closed before sending a request"
                                       : ": closed in the middle of its CONNECT request"));
      co_return;
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left <= milliseconds::zero()) {
      parsed = ConnectRefusal{408, "connect_request_timeout",
                              "no complete CONNECT request within " +
                                  std::to_string(ctx.config.handshake_timeout.count()) +
                                  " ms (timeouts.handshake)"};
      break;
    }
    // One byte past the limit at most: enough for the parser to see it exceeded.
    const std::size_t room = std::min(sizeof chunk, kMaxConnectHeadBytes + 1 - buf.size());
    auto r = co_await (app.async_read_some(asio::buffer(chunk, room), kTuple) || sleep_for(left));
    if (r.index() == 1) continue;
    auto [rec, n] = std::get<0>(r);
    buf.append(chunk, n);
    if (rec) closed = true;
  }

  if (const auto* no = std::get_if<ConnectRefusal>(&parsed)) {
    ctx.refuse("outbound", no->reason, source + ": " + no->detail);
    co_await answer_and_close(ctx, app, connect_response(no->status, no->reason, no->detail));
    co_return;
  }
  const auto& req = std::get<ConnectRequest>(parsed);
  log::debug("explicit CONNECT", {{"source", source}, {"target", to_string(req.target)}});
  // A target whose traffic is inspected: as for any target, the 200 waits for an upstream — a
  // ready endpoint (503 after the fail-fast timeout) and a pooled HTTP/2 connection to its proxy
  // (502) — then the tunnel's requests are served one by one, each on its own endpoint.
  if (auto route = co_await http_route(ctx, req.target)) {
    const std::string target = to_string(req.target);
    auto chosen =
        co_await choose_endpoint(ctx, *route, target, Clock::now() + ctx.config.fail_fast);
    if (!chosen) {
      ctx.refuse("outbound", chosen.error().code, chosen.error().message);
      co_await answer_and_close(ctx, app,
                                connect_response(503, chosen.error().code, chosen.error().message));
      co_return;
    }
    auto upstream = co_await ctx.h2_pool->get(chosen->key, chosen->addr,
                                              connection_labels("outbound", *route, &*chosen));
    if (!upstream) {
      log::warn("outbound connect failed", {{"target", target},
                                            {"endpoint", chosen->key},
                                            {"reason", upstream.error().code},
                                            {"detail", upstream.error().message}});
      co_await answer_and_close(
          ctx, app, connect_response(502, upstream.error().code, upstream.error().message));
      co_return;
    }
    if (co_await write_within(app, connect_response(200), ctx.config.handshake_timeout)) co_return;
    co_await serve_target(ctx, member, std::move(app), req.target, std::move(*route),
                          buf.substr(req.head_size));
    co_return;
  }
  ConnectReply reply(ctx, buf.substr(req.head_size));
  co_await forward_outbound(ctx, member, std::move(app), req.target, &reply);
}

}  // namespace strait::proxy
