// Proxy: wiring and lifecycle.
#include "sidecar/proxy/proxy.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <fstream>
#include <sstream>

#include "controlplane/client/registration_lease.h"
#include "core/admin/admin_server.h"
#include "sidecar/proxy/inbound.h"
#include "sidecar/proxy/outbound.h"

namespace strait::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

Result<tcp::endpoint> parse_listen(const std::string& s) {
  auto colon = s.rfind(':');
  boost::system::error_code ec;
  if (colon == std::string::npos) return make_error("invalid_field", "expected host:port, got " + s);
  std::string host = s.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  auto addr = asio::ip::make_address(host, ec);
  int port = std::atoi(s.c_str() + colon + 1);
  if (ec || port < 0 || port > 65535) return make_error("invalid_field", "bad listen address " + s);
  return tcp::endpoint(addr, static_cast<std::uint16_t>(port));
}

Result<std::string> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("io_error", "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ProxyImpl final : public Proxy {
 public:
  explicit ProxyImpl(ProxyConfig config)
      : config_(std::move(config)), metrics_(registry_), outbound_(io_), inbound_(io_), signals_(io_) {}

  ~ProxyImpl() override {
    if (lease_) lease_->stop();
  }

  Result<void> init() {
    auto anchors = slurp(config_.trust_anchors_file);
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
              auto t = slurp(token_file);
              if (!t) return t.error();
              while (!t->empty() && std::isspace(static_cast<unsigned char>(t->back()))) t->pop_back();
              return *t;
            }},
        std::move(*bundle), [this](std::shared_ptr<const TlsState> s) { identity_changed(std::move(s)); });

    destinations_ = std::make_unique<DestinationCache>(
        io_, [this] { return destination::v1::Destination::NewStub(channel_); },
        DestinationCache::Settings{.idle_timeout = config_.destination_idle,
                                   .on_stream_state = stream_gauge("destination")});
    policies_ = std::make_unique<PolicyCache>(
        io_, [this] { return policy::v1::InboundPolicies::NewStub(channel_); }, config_.labels,
        stream_gauge("policy"));
    ctx_ = std::make_unique<ProxyContext>(ProxyContext{io_, config_, metrics_, *identity_, *destinations_,
                                                       *policies_, connections_});

    if (auto r = listen(outbound_, config_.outbound_listen); !r) return r;
    if (auto r = listen(inbound_, config_.inbound_listen); !r) return r;
    if (auto r = start_admin(); !r) return r;
    ports_.outbound = outbound_.local_endpoint().port();
    ports_.inbound = inbound_.local_endpoint().port();
    return {};
  }

  ProxyPorts ports() const override { return ports_; }

  void run() override {
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    signals_.async_wait([this](boost::system::error_code ec, int) {
      if (!ec) drain();
    });
    identity_->start();
    asio::co_spawn(io_, accept_loop(outbound_, true), asio::detached);
    asio::co_spawn(io_, accept_loop(inbound_, false), asio::detached);
    log::info("proxy serving", {{"outbound_port", static_cast<std::int64_t>(ports_.outbound)},
                                {"inbound_port", static_cast<std::int64_t>(ports_.inbound)},
                                {"admin_port", static_cast<std::int64_t>(ports_.admin)}});
    io_.run();
  }

  void drain() override {
    asio::post(io_, [this] {
      if (draining_) return;
      draining_ = true;
      asio::co_spawn(io_, drain_steps(), asio::detached);
    });
  }

 private:
  std::function<void(bool)> stream_gauge(const std::string& api) {
    auto g = metrics_.control_streams.with({api});
    return [g](bool connected) { connected ? g.inc() : g.dec(); };
  }

  // A new certificate: new streams to the controller use a channel with it; existing
  // connections keep theirs.
  void identity_changed(std::shared_ptr<const TlsState> s) {
    if (!s) {
      metrics_.cert_renewals.with({"failure"}).inc();
      return;
    }
    metrics_.cert_renewals.with({"success"}).inc();
    metrics_.cert_expiry.with({}).set(static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(s->credentials.expiry.time_since_epoch()).count()));
    channel_ = controlplane::make_channel(
        config_.destination_address,
        {anchors_pem_, s->credentials.cert_chain_pem(), s->credentials.key_pem});
    if (first_identity_) {
      first_identity_ = false;
      for (auto port : config_.inbound_ports) policies_->watch(port);
      start_registration();
    }
  }

  void start_registration() {
    if (!config_.register_service) return;
    registration::v1::Workload w;
    w.set_service(*config_.register_service);
    w.set_port(config_.register_port);
    w.set_name(config_.register_name);
    w.set_address(config_.register_address);
    w.set_zone(config_.zone);
    w.mutable_labels()->insert(config_.labels.begin(), config_.labels.end());
    auto g = metrics_.control_streams.with({"registration"});
    lease_ = std::make_unique<controlplane::RegistrationLease>(
        channel_, w, [g](controlplane::RegistrationLease::State s, const std::string& detail) {
          if (s == controlplane::RegistrationLease::State::kRegistered) {
            g.set(1);
            log::info("workload registered", {{"endpoint", detail}});
          } else if (s == controlplane::RegistrationLease::State::kBroken) {
            g.set(0);
          }
        });
  }

  Result<void> listen(tcp::acceptor& a, const std::string& where) {
    auto ep = parse_listen(where);
    if (!ep) return ep.error();
    boost::system::error_code ec;
    a.open(ep->protocol(), ec);
    if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a.bind(*ep, ec);
    if (!ec) a.listen(1024, ec);
    if (ec) return make_error("bind_failed", "cannot listen on " + where + ": " + ec.message());
    return {};
  }

  Result<void> start_admin() {
    auto ep = parse_listen(config_.admin_listen);
    if (!ep) return ep.error();
    admin::AdminOptions o;
    o.address = ep->address().to_string();
    o.port = ep->port();
    admin_ = std::make_unique<admin::AdminServer>(io_, registry_, o);
    admin_->set_readiness([this]() -> Result<void> {
      if (!identity_->current()) return make_error("not_ready", "no certificate yet");
      if (!policies_->all_known()) return make_error("not_ready", "waiting for inbound policies");
      if (draining_) return make_error("not_ready", "draining");
      return {};
    });
    admin_->add_handler(boost::beast::http::verb::post, "/shutdown",
                        [this](const admin::Request&) {
                          drain();
                          return admin::Response(202, "draining\n");
                        },
                        /*loopback_only=*/true);
    if (auto r = admin_->start(); !r) return r;
    ports_.admin = admin_->port();
    return {};
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, bool outbound) {
    const char* direction = outbound ? "outbound" : "inbound";
    while (acceptor.is_open()) {
      auto [ec, sock] = co_await acceptor.async_accept(kTuple);
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
      if (ec) {
        ctx_->refuse(direction, "accept_error", ec.message());
        co_await sleep_for(std::chrono::milliseconds(10));  // e.g. out of file descriptors
        continue;
      }
      if (connections_.size() >= config_.max_connections) {
        ctx_->refuse(direction, "max_connections",
                     "limit of " + std::to_string(config_.max_connections) + " open connections");
        continue;  // sock closes here
      }
      if (outbound) {
        auto orig = original_dst(sock);
        if (!orig) {
          ctx_->refuse("outbound", "no_original_dst", "connection was not redirected to the proxy");
          continue;
        }
        // Owned by the ConnectionSet, which drains and cuts it.
        asio::co_spawn(io_, serve_outbound(*ctx_, std::move(sock), *orig), asio::detached);
      } else {
        asio::co_spawn(io_, serve_inbound(*ctx_, std::move(sock)), asio::detached);
      }
    }
  }

  asio::awaitable<void> drain_steps() {
    log::info("draining", {{"open_connections", static_cast<std::int64_t>(connections_.size())},
                           {"deadline_ms", static_cast<std::int64_t>(config_.drain_timeout.count())}});
    boost::system::error_code ec;
    outbound_.close(ec);
    inbound_.close(ec);
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
    if (lease_) lease_->stop();
    identity_->stop();
    destinations_.reset();
    policies_.reset();
    admin_->stop();
    signals_.cancel();
    log::info("drained");
    io_.stop();
  }

  ProxyConfig config_;
  asio::io_context io_{1};
  metrics::Registry registry_;
  ProxyMetrics metrics_;
  std::string anchors_pem_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<IdentityManager> identity_;
  std::unique_ptr<DestinationCache> destinations_;
  std::unique_ptr<PolicyCache> policies_;
  ConnectionSet connections_;
  std::unique_ptr<ProxyContext> ctx_;
  tcp::acceptor outbound_;
  tcp::acceptor inbound_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<controlplane::RegistrationLease> lease_;
  asio::signal_set signals_;
  ProxyPorts ports_;
  bool draining_ = false;
  bool first_identity_ = true;
};

}  // namespace

Result<std::unique_ptr<Proxy>> Proxy::create(ProxyConfig config) {
  auto p = std::make_unique<ProxyImpl>(std::move(config));
  if (auto r = p->init(); !r) return r.error();
  return std::unique_ptr<Proxy>(std::move(p));
}

}  // namespace strait::proxy
