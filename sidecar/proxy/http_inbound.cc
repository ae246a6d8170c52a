// The inbound HTTP request path (see http_inbound.h).
#include "sidecar/proxy/http_inbound.h"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "core/net/address.h"
#include "sidecar/proxy/authorization.h"
#include "sidecar/proxy/net_util.h"
#include "sidecar/proxy/http/orig_proto.h"
#include "sidecar/proxy/http_answer.h"
#include "sidecar/proxy/http_outbound.h"

namespace strait::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

namespace {
// Idle keep-alive connections kept to the application: as many as an HTTP/2 session from a peer
// may carry requests at once (its stream limit), so that a busy session never has to close one
// and open the next (seen in the benchmark: 5 concurrent requests on a pool of 4 turned over
// 1,000 connections a second).
constexpr std::size_t kMaxIdleToApp = 100;
}  // namespace

tcp::endpoint app_endpoint(const ProxyContext& ctx, std::uint16_t port) {
  // inbound.forwardAddress: validated when the configuration was read.
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(ctx.config.inbound_forward_address, ec);
  if (ec) ip = asio::ip::address_v4::loopback();
  return {ip, port};
}

asio::awaitable<Result<tcp::socket>> connect_app(ProxyContext& ctx, const tcp::endpoint& app) {
  tcp::socket s(ctx.io);
  auto r = co_await (s.async_connect(app, kTuple) || sleep_for(ctx.config.inbound_connect_timeout));
  if (r.index() == 1) {
    co_return make_error("connect_timeout", "the application did not accept in time");
  }
  if (auto ec = std::get<0>(std::get<0>(r)); ec) {
    co_return make_error("connect_refused", ec.message());
  }
  boost::system::error_code ec;
  s.set_option(tcp::no_delay(true), ec);
  co_return std::move(s);
}

InboundHttp::InboundHttp(ProxyContext& ctx, HttpMetricFamilies& families, std::uint16_t port,
                         std::optional<identity::SpiffeId> client, std::string source_ip,
                         ConnLabels labels)
    : ctx_(ctx),
      families_(families),
      app_(app_endpoint(ctx, port)),
      port_(port),
      client_(std::move(client)),
      source_ip_(std::move(source_ip)),
      labels_(std::move(labels)),
      h1_(
          [&ctx,
           app = app_](const std::string&) -> asio::awaitable<Result<std::unique_ptr<AnyStream>>> {
            auto s = co_await connect_app(ctx, app);
            if (!s) co_return s.error();
            co_return std::make_unique<AnyStream>(std::make_unique<PlainStream>(std::move(*s)));
          },
          ctx.config.h1_limits, kMaxIdleToApp) {}

InboundHttp::~InboundHttp() {
  if (h2_) h2_->drain();
}

std::shared_ptr<RouteMetrics> InboundHttp::metrics_for(const std::string& authority) {
  auto it = metrics_.find(authority);
  if (it != metrics_.end()) return it->second;
  auto m = std::make_shared<RouteMetrics>(families_, http_labels(labels_, authority));
  metrics_.emplace(authority, m);
  return m;
}

asio::awaitable<Result<http::Response>> InboundHttp::send_h1(http::Request request) {
  co_return co_await h1_.send(to_string(app_), std::move(request));
}

asio::awaitable<Result<http::Response>> InboundHttp::send_h2(http::Request request) {
  if (!h2_ || !h2_->usable()) {
    auto s = co_await connect_app(ctx_, app_);
    if (!s) co_return s.error();
    h2_ = http::H2Client::start(
        co_await asio::this_coro::executor,
        std::make_unique<AnyStream>(std::make_unique<PlainStream>(std::move(*s))), http::H2Limits{},
        [this](std::string_view reason, std::string_view detail) {
          ctx_.refuse("inbound", std::string(reason), std::string(detail));
        });
  }
  co_return co_await h2_->send(std::move(request));
}

std::optional<http::Response> InboundHttp::authorize_request(const http::RequestHead& head) {
  const auto* policy = ctx_.policies.current(port_);
  const auto ex = ctx_.io.get_executor();
  if (!policy) return proxy_error(ex, head, 403, "no_policy");
  auto verdict = authorize(*policy, client_, source_ip_);
  const std::string client_id = client_ ? client_->to_string() : "";
  auto counter = [&](auto& cache, auto& family, const std::string& what) {
    auto key = std::make_pair(policy->server(), what);
    auto it = cache.find(key);
    if (it == cache.end()) {
      it =
          cache
              .emplace(key, family.with({std::to_string(port_), policy->server(), what, client_id}))
              .first;
    }
    return it->second;
  };
  if (verdict.allowed) {
    counter(allowed_, ctx_.metrics.http_authz_allow, verdict.authorization).inc();
    return std::nullopt;
  }
  counter(denied_, ctx_.metrics.http_authz_deny, verdict.reason).inc();
  ctx_.refuse("inbound", "http_authz_" + verdict.reason,
              "request to port " + std::to_string(port_) + " from " +
                  (client_id.empty() ? std::string("an unauthenticated client") : client_id));
  return proxy_error(ex, head, 403, verdict.reason);
}

asio::awaitable<http::Response> InboundHttp::handle(http::Request request) {
  auto ex = co_await asio::this_coro::executor;
  const auto start = Clock::now();
  if (auto refused = authorize_request(request.head)) {
    if (request.body) request.body->cancel("forbidden");
    co_return std::move(*refused);
  }
  auto orig = http::take_orig_proto(request.head);
  if (!orig) {
    ctx_.refuse("inbound", orig.error().code, orig.error().message);
    if (request.body) request.body->cancel(orig.error().code);
    co_return proxy_error(ex, request.head, 400, orig.error().code);
  }
  // The application may trust this field: it says who called, as the certificate proved.
  http::remove_field(request.head.fields, kClientIdField);
  if (client_) request.head.fields.emplace_back(std::string(kClientIdField), client_->to_string());

  auto metrics = metrics_for(request.head.authority);
  metrics->request();
  http::RequestHead kind;  // what a refusal's form depends on, once the request has gone
  if (is_grpc(request.head)) kind.fields.emplace_back("content-type", "application/grpc");
  Result<http::Response> response = Error{"connection_error", "not sent"};
  // HTTP/1 to the application for what was HTTP/1 at the client: marked by its proxy, or
  // read as HTTP/1 here (a plaintext client outside the mesh).
  if (orig->has_value()) request.head.version = (*orig)->version;
  if (request.head.version != http::HttpVersion::kHttp2) {
    response = co_await send_h1(std::move(request));
  } else {
    response = co_await send_h2(std::move(request));
  }
  if (!response) {
    log::warn("inbound: the application did not answer", {{"application", to_string(app_)},
                                                          {"reason", response.error().code},
                                                          {"detail", response.error().message}});
    metrics->response(0, std::nullopt, true, Clock::now() - start);
    co_return proxy_error(ex, kind, 502, response.error().code);
  }
  co_return observe_response(std::move(*response), [metrics, start](const ResponseEnd& end) {
    metrics->response(end.status, end.grpc_status, end.broken, Clock::now() - start);
  });
}

}  // namespace strait::proxy
