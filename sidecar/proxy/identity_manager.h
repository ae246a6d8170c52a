// IdentityManager: the proxy's identity. Generates its key in memory, certifies with the join
// token (retrying with backoff), renews at 70 % of the lifetime, and publishes each new set of
// TLS contexts as one immutable snapshot: connections keep the snapshot they started with, so
// a renewal never drops one. The trusted roots can change too (linked clusters' bundles, from
// the controller): the same snapshot mechanism, so a change of trust never touches a
// connection in flight either.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "controlplane/client/certify.h"
#include "core/identity/spiffe_id.h"
#include "core/tls/tls_context.h"
#include "core/tls/trust_bundle.h"

namespace strait::proxy {

struct TlsState {
  identity::SpiffeId id;
  tls::ContextPtr server;  // inbound: client certificates optional, verified when present
  tls::ContextPtr client;  // outbound: presents our certificate
  controlplane::WorkloadCredentials credentials;
};

class IdentityManager {
 public:
  struct Settings {
    identity::SpiffeId id;
    std::string identity_address;
    std::string anchors_pem;
    std::function<Result<std::string>()> read_token;  // read at each attempt: tokens rotate
  };
  using OnChange = std::function<void(std::shared_ptr<const TlsState>)>;

  IdentityManager(boost::asio::io_context& io, Settings settings, tls::TrustBundle bundle,
                  OnChange on_change);
  ~IdentityManager();

  void start();
  void stop();
  std::shared_ptr<const TlsState> current() const { return current_; }
  // Verifies peers of new connections (both directions) against `bundle` from now on: the
  // current certificate gets new contexts at once, renewals use it too. On error (contexts
  // could not be built) nothing changes.
  Result<void> set_trust(tls::TrustBundle bundle);

 private:
  void attempt();
  void completed(Result<controlplane::WorkloadCredentials> r);
  Result<std::shared_ptr<const TlsState>> build(controlplane::WorkloadCredentials creds) const;

  boost::asio::io_context& io_;
  Settings settings_;
  tls::TrustBundle bundle_;
  OnChange on_change_;
  std::shared_ptr<const TlsState> current_;
  boost::asio::steady_timer timer_;
  boost::asio::thread_pool blocking_{1};  // the Certify call blocks: keep it off the I/O thread
  std::chrono::milliseconds backoff_{200};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace strait::proxy
