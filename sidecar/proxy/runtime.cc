// Runtime: identity, caches, listeners, admin and the drain, for the proxy and the gateway.
#include "sidecar/proxy/runtime.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <fstream>
#include <sstream>

#include "core/base/files.h"
#include "core/net/address.h"
#include "sidecar/proxy/h2_pool.h"

namespace strait::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

Result<tcp::endpoint> parse_listen(const std::string& s) {
  auto hp = net::split_host_port(s);
  if (!hp) return hp.error();
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(hp->first, ec);
  if (ec) return make_error("invalid_field", "bad listen address " + s + ": not an IP literal");
  return tcp::endpoint(addr, hp->second);
}

Runtime::Runtime(ProxyConfig config)
    : config_(std::move(config)), metrics_(registry_), signals_(io_) {}

Runtime::~Runtime() = default;

Result<std::unique_ptr<Runtime>> Runtime::create(ProxyConfig config) {
  std::unique_ptr<Runtime> r(new Runtime(std::move(config)));
  if (auto i = r->init(); !i) return i.error();
  return r;
}

Result<void> Runtime::init() {
  auto anchors = files::read_file(config_.trust_anchors_file);
  if (!anchors) return anchors.error();
  anchors_pem_ = *anchors;
  auto bundle = tls::TrustBundle::from_pem(*anchors);
  if (!bundle) return bundle.error();
  auto id = identity::SpiffeId::parse("spiffe://" + config_.trust_domain + "/ns/" + config_.ns +
                                      "/sa/" + config_.service_account);
  if (!id) return id.error();
  std::string token_file = config_.token_file;
  identity_ = std::make_unique<IdentityManager>(
      io_,
      IdentityManager::Settings{
          *id, config_.identity_address, anchors_pem_,
          [token_file]() -> Result<std::string> {
            if (token_file.empty()) {
              if (const char* t = std::getenv("STRAIT_JOIN_TOKEN")) return std::string(t);
              return make_error("no_token", "set identity.tokenFile or STRAIT_JOIN_TOKEN");
            }
            auto t = files::read_file(token_file);
            if (!t) return t.error();
            while (!t->empty() && std::isspace(static_cast<unsigned char>(t->back())))
              t->pop_back();
            return *t;
          }},
      std::move(*bundle), [this](std::shared_ptr<const TlsState> s) { identity_changed(s); });

  destinations_ = std::make_unique<DestinationCache>(
      io_, [this](bool fresh) { return destination::v1::Destination::NewStub(channel(fresh)); },
      DestinationCache::Settings{.idle_timeout = config_.destination_idle,
                                 .on_stream_state = stream_gauge("destination"),
                                 .balancer = {.default_rtt = config_.balancer_default_rtt,
                                              .decay = config_.balancer_decay},
                                 .max_waiters = config_.fail_fast_queue,
                                 .on_waiting = [g = metrics_.endpoint_waiting.with({})](int delta) {
                                   delta > 0 ? g.inc() : g.dec();
                                 }});
  policies_ = std::make_unique<PolicyCache>(
      io_, [this](bool fresh) { return policy::v1::InboundPolicies::NewStub(channel(fresh)); },
      config_.labels, stream_gauge("policy"));
  trust_ = std::make_unique<TrustWatch>(
      io_, [this](bool fresh) { return trust::v1::Trust::NewStub(channel(fresh)); }, anchors_pem_,
      config_.trust_domain,
      TrustWatch::Callbacks{
          .on_change = [this](const TrustSet& set,
                              const TrustSet* previous) { trust_changed(set, previous); },
          .on_stream_state = stream_gauge("trust")});
  if (const TrustSet* bootstrap = trust_->current()) {
    for (const auto& [td, n] : bootstrap->per_domain) {
      metrics_.trust_roots.with({td}).set(static_cast<double>(n));
    }
  }
  ctx_ = std::make_unique<ProxyContext>(io_, config_, metrics_, *identity_, *destinations_,
                                        *policies_, connections_);
  if (config_.http) {
    h2_pool_ = std::make_unique<H2Pool>(*ctx_, config_.h2_limits);
    ctx_->h2_pool = h2_pool_.get();
  }

  if (config_.admin_listen.empty()) return {};
  auto ep = parse_listen(config_.admin_listen);
  if (!ep) return ep.error();
  admin::AdminOptions o;
  o.address = ep->address().to_string();
  o.port = ep->port();
  admin_ = std::make_unique<admin::AdminServer>(io_, registry_, o);
  admin_->set_readiness([this] { return readiness(); });
  admin_->add_handler(
      boost::beast::http::verb::post, "/shutdown",
      [this](const admin::Request&) {
        drain();
        return admin::Response(202, "draining\n");
      },
      /*loopback_only=*/true);
  if (auto r = admin_->start(); !r) return r;
  ctx_->own_ports.insert(admin_->port());
  return {};
}

std::uint16_t Runtime::admin_port() const { return admin_ ? admin_->port() : 0; }

Result<void> Runtime::readiness() const {
  if (!identity_->current()) return make_error("not_ready", "no certificate yet");
  if (!policies_->all_known()) return make_error("not_ready", "waiting for inbound policies");
  // Bounded: the anchors file already covers this cluster; linked clusters' roots are expected
  // within moments of the certificate (same controller, same channel), but an unreachable or
  // older controller must not keep the workload out of service.
  if (trust_ && !trust_->answered() &&
      Clock::now() - first_identity_at_ < config_.trust_ready_timeout) {
    return make_error("not_ready", "waiting for trust roots");
  }
  if (draining_) return make_error("not_ready", "draining");
  return {};
}

std::function<void(bool)> Runtime::stream_gauge(const std::string& api) {
  auto g = metrics_.control_streams.with({api});
  return [g](bool connected) { connected ? g.inc() : g.dec(); };
}

// A new certificate: new streams to the controller use a channel with it; existing
// connections keep theirs.
void Runtime::identity_changed(const std::shared_ptr<const TlsState>& s) {
  if (!s) {
    metrics_.cert_renewals.with({"failure"}).inc();
    return;
  }
  metrics_.cert_renewals.with({"success"}).inc();
  metrics_.cert_expiry.with({}).set(static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(s->credentials.expiry.time_since_epoch())
          .count()));
  controlplane::ClientCredentials creds{anchors_pem_, s->credentials.cert_chain_pem(),
                                        s->credentials.key_pem};
  auto channel = controlplane::make_channel(config_.destination_address, creds);
  {
    std::lock_guard lock(channel_mu_);
    channel_ = std::move(channel);
    channel_credentials_ = std::move(creds);
    channel_made_ = Clock::now();
  }
  if (first_identity_) {
    first_identity_ = false;
    first_identity_at_ = Clock::now();
    trust_->start();
    for (auto port : config_.inbound_ports) policies_->watch(port);
    for (auto& f : first_identity_hooks_) f();
  }
}

// New trusted roots (a Link added, changed or removed in this cluster): new connections verify
// peers with them, in both directions; connections in flight keep the contexts they started
// with.
void Runtime::trust_changed(const TrustSet& set, const TrustSet* previous) {
  auto describe = [](const std::map<std::string, int>& per_domain) {
    std::string out;
    for (const auto& [td, n] : per_domain) {
      out += (out.empty() ? "" : ",") + td + "=" + std::to_string(n);
    }
    return out;
  };
  if (auto r = identity_->set_trust(set.bundle); !r) {
    log::error("trust roots not applied",
               {{"reason", r.error().code}, {"detail", r.error().message}});
    return;
  }
  std::string added, removed;
  const std::map<std::string, int> none;
  const auto& before = previous ? previous->per_domain : none;
  for (const auto& [td, n] : set.per_domain) {
    if (!before.contains(td)) added += (added.empty() ? "" : ",") + td;
  }
  for (const auto& [td, n] : before) {
    if (!set.per_domain.contains(td)) {
      removed += (removed.empty() ? "" : ",") + td;
      metrics_.trust_roots.remove({td});
    }
  }
  for (const auto& [td, n] : set.per_domain) {
    metrics_.trust_roots.with({td}).set(static_cast<double>(n));
  }
  // A withdrawn root: what was accepted or opened under it must prove itself again.
  bool withdrawn = false;
  if (previous) {
    for (const auto& k : previous->key) withdrawn = withdrawn || !set.key.contains(k);
  }
  if (withdrawn && ctx_) {
    ctx_->trust_withdrawn.run();
    if (h2_pool_) h2_pool_->recycle();
  }
  log::info("trust roots changed", {{"roots", static_cast<std::int64_t>(set.key.size())},
                                    {"trust_domains", describe(set.per_domain)},
                                    {"added", added},
                                    {"removed", removed}});
}

std::shared_ptr<grpc::Channel> Runtime::channel(bool fresh) {
  std::lock_guard lock(channel_mu_);
  if (fresh && channel_ && Clock::now() - channel_made_ > std::chrono::seconds(1)) {
    channel_ = controlplane::make_channel(config_.destination_address, channel_credentials_);
    channel_made_ = Clock::now();
  }
  return channel_;
}

Result<std::uint16_t> Runtime::listen(const std::string& where, std::string direction,
                                      Accept accept) {
  auto ep = parse_listen(where);
  if (!ep) return ep.error();
  auto l = std::make_unique<Listener>(
      Listener{tcp::acceptor(io_), std::move(direction), std::move(accept)});
  boost::system::error_code ec;
  l->acceptor.open(ep->protocol(), ec);
  if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) l->acceptor.bind(*ep, ec);
  if (!ec) l->acceptor.listen(1024, ec);
  if (ec) return make_error("bind_failed", "cannot listen on " + where + ": " + ec.message());
  std::uint16_t port = l->acceptor.local_endpoint().port();
  ctx_->own_ports.insert(port);
  listeners_.push_back(std::move(l));
  return port;
}

void Runtime::run() {
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.async_wait([this](boost::system::error_code ec, int) {
    if (!ec) drain();
  });
  identity_->start();
  for (auto& l : listeners_) {
    asio::co_spawn(io_, accept_loop(l->acceptor, l->direction, l->accept), asio::detached);
  }
  io_.run();
}

void Runtime::drain() {
  asio::post(io_, [this] {
    if (draining_) return;
    draining_ = true;
    asio::co_spawn(io_, drain_steps(), asio::detached);
  });
}

asio::awaitable<void> Runtime::accept_loop(tcp::acceptor& acceptor, std::string direction,
                                           Accept accept) {
  while (acceptor.is_open()) {
    auto [ec, sock] = co_await acceptor.async_accept(kTuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
    if (ec) {
      ctx_->refuse(direction.c_str(), "accept_error", ec.message());
      co_await sleep_for(std::chrono::milliseconds(10));  // e.g. out of file descriptors
      continue;
    }
    if (connections_.size() >= config_.max_connections) {
      ctx_->refuse(direction.c_str(), "max_connections",
                   "limit of " + std::to_string(config_.max_connections) + " open connections");
      continue;  // sock closes here
    }
    accept(std::move(sock));
  }
}

asio::awaitable<void> Runtime::drain_steps() {
  log::info("draining",
            {{"open_connections", static_cast<std::int64_t>(connections_.size())},
             {"deadline_ms", static_cast<std::int64_t>(config_.drain_timeout.count())}});
  boost::system::error_code ec;
  for (auto& l : listeners_) l->acceptor.close(ec);
  ctx_->start_drain();
  if (h2_pool_) h2_pool_->drain();
  auto deadline = Clock::now() + config_.drain_timeout;
  while (connections_.size() > 0 && Clock::now() < deadline) {
    co_await sleep_for(std::chrono::milliseconds(50));
  }
  if (connections_.size() > 0) {
    log::warn("drain deadline passed; cutting connections",
              {{"open_connections", static_cast<std::int64_t>(connections_.size())}});
    connections_.cut_all();
    while (connections_.size() > 0) co_await sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& f : stop_hooks_) f();
  identity_->stop();
  trust_.reset();
  destinations_.reset();
  policies_.reset();
  if (admin_) admin_->stop();
  signals_.cancel();
  log::info("drained");
  io_.stop();
}

}  // namespace strait::proxy
