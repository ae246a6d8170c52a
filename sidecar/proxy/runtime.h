// Runtime: what every data-plane process of a cluster runs on — one I/O thread, the identity
// (certify, renew), the channel to the controller, the destination and policy caches, the
// trusted roots (the anchors file, then the controller's Trust stream: linked clusters),
// connection set with its cap and drain, metrics and the admin server. strait-proxy adds its
// outbound and inbound listeners to it; strait-gateway adds its gateway listener.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/admin/admin_server.h"
#include "core/base/result.h"
#include "sidecar/proxy/h2_pool.h"
#include "sidecar/proxy/proxy_context.h"
#include "sidecar/proxy/trust_watch.h"

namespace strait::proxy {

class Runtime {
 public:
  // Called for each accepted connection, already counted against the connection cap.
  using Accept = std::function<void(boost::asio::ip::tcp::socket)>;

  static Result<std::unique_ptr<Runtime>> create(ProxyConfig config);
  ~Runtime();

  boost::asio::io_context& io() { return io_; }
  ProxyContext& context() { return *ctx_; }
  const ProxyConfig& config() const { return config_; }
  metrics::Registry& registry() { return registry_; }
  ProxyMetrics& metrics() { return metrics_; }
  // The admin server (absent when listen.admin is empty).
  admin::AdminServer* admin() { return admin_.get(); }
  // The channel to the controller. Thread-safe: controller streams call it from their own
  // threads. `fresh` (after a broken stream) replaces it, at most once a second, so that a
  // restarted controller is reached at once.
  std::shared_ptr<grpc::Channel> channel(bool fresh = false);
  const std::string& anchors_pem() const { return anchors_pem_; }

  // Binds a listener now; serves once run() starts. Returns the bound port.
  Result<std::uint16_t> listen(const std::string& where, std::string direction, Accept accept);
  // Runs once, on the I/O thread, when the first certificate is installed.
  void on_first_identity(std::function<void()> f) { first_identity_hooks_.push_back(std::move(f)); }
  // Runs on the I/O thread before the runtime stops (after connections drained).
  void on_stop(std::function<void()> f) { stop_hooks_.push_back(std::move(f)); }

  // Ready: a certificate, the first policy of every workload port, the first trust roots (or
  // timeouts.trustReady passed since the certificate), and not draining.
  Result<void> readiness() const;
  std::uint16_t admin_port() const;

  // Serves until drained (SIGTERM, SIGINT, or drain()).
  void run();
  // Thread-safe: stop accepting, let connections finish up to the drain timeout, then cut them.
  void drain();

 private:
  explicit Runtime(ProxyConfig config);
  Result<void> init();
  void identity_changed(const std::shared_ptr<const TlsState>& s);
  void trust_changed(const TrustSet& set, const TrustSet* previous);
  std::function<void(bool)> stream_gauge(const std::string& api);
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor,
                                           std::string direction, Accept accept);
  boost::asio::awaitable<void> drain_steps();

  ProxyConfig config_;
  // The metrics outlive the I/O context: work it destroys unfinished (a coroutine frame, a body
  // pipe whose end observer records a response) may still count.
  metrics::Registry registry_;
  ProxyMetrics metrics_;
  boost::asio::io_context io_{1};
  std::string anchors_pem_;
  std::mutex channel_mu_;
  std::shared_ptr<grpc::Channel> channel_;
  controlplane::ClientCredentials channel_credentials_;
  std::chrono::steady_clock::time_point channel_made_;
  std::unique_ptr<IdentityManager> identity_;
  std::unique_ptr<DestinationCache> destinations_;
  std::unique_ptr<PolicyCache> policies_;
  std::unique_ptr<TrustWatch> trust_;
  std::chrono::steady_clock::time_point first_identity_at_;
  ConnectionSet connections_;
  std::unique_ptr<ProxyContext> ctx_;
  std::unique_ptr<H2Pool> h2_pool_;
  struct Listener {
    boost::asio::ip::tcp::acceptor acceptor;
    std::string direction;
    Accept accept;
  };
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::vector<std::function<void()>> first_identity_hooks_;
  std::vector<std::function<void()>> stop_hooks_;
  boost::asio::signal_set signals_;
  bool draining_ = false;
  bool first_identity_ = true;
};

// "host:port" (IPv6 in brackets) to an endpoint.
Result<boost::asio::ip::tcp::endpoint> parse_listen(const std::string& s);

}  // namespace strait::proxy
