// IdentityManager: certify, build contexts, schedule the renewal.
#include "sidecar/proxy/identity_manager.h"

#include <boost/asio/post.hpp>
#include <utility>

#include "core/log/log.h"

namespace strait::proxy {
namespace asio = boost::asio;
using Clock = std::chrono::system_clock;

IdentityManager::IdentityManager(asio::io_context& io, Settings settings, tls::TrustBundle bundle,
                                 OnChange on_change)
    : io_(io),
      settings_(std::move(settings)),
      bundle_(std::move(bundle)),
      on_change_(std::move(on_change)),
      timer_(io) {}

IdentityManager::~IdentityManager() { stop(); }

void IdentityManager::start() { attempt(); }

void IdentityManager::stop() {
  *alive_ = false;
  timer_.cancel();
  blocking_.join();
}

void IdentityManager::attempt() {
  // A renewal presents the certificate we hold (join tokens expire long before certificates
  // are renewed); if that fails, or there is none yet, the join token.
  std::shared_ptr<const TlsState> held = current_;
  if (held && held->credentials.expiry <= Clock::now()) held.reset();
  asio::post(blocking_, [this, alive = alive_, held] {
    Result<controlplane::WorkloadCredentials> r = make_error("no_token", "");
    if (held) {
      r = controlplane::certify(settings_.identity_address, settings_.anchors_pem, settings_.id, "",
                                std::chrono::seconds(10), &held->credentials);
    }
    if (!r) {
      auto token = settings_.read_token();
      if (!token) {
        r = token.error();
      } else {
        r = controlplane::certify(settings_.identity_address, settings_.anchors_pem, settings_.id,
                                  *token, std::chrono::seconds(10));
      }
    }
    asio::post(io_, [this, alive, r = std::move(r)]() mutable {
      if (*alive) completed(std::move(r));
    });
  });
}

Result<std::shared_ptr<const TlsState>> IdentityManager::build(
    controlplane::WorkloadCredentials creds) const {
  auto leaf = tls::Certificate::from_pem(creds.cert_pem);
  if (!leaf) return leaf.error();
  auto key = tls::PrivateKey::from_pem(creds.key_pem);
  if (!key) return key.error();
  tls::Credentials tc{*leaf, {}, *key};
  for (const auto& pem : creds.chain_pem) {
    auto c = tls::Certificate::from_pem(pem);
    if (!c) return c.error();
    tc.chain.push_back(*c);
  }
  auto server = tls::make_server_context(tc, bundle_, tls::ClientAuth::kOptional);
  if (!server) return server.error();
  auto client = tls::make_client_context(&tc, bundle_);
  if (!client) return client.error();
  return std::make_shared<const TlsState>(
      TlsState{settings_.id, *server, *client, std::move(creds)});
}

Result<void> IdentityManager::set_trust(tls::TrustBundle bundle) {
  tls::TrustBundle previous = std::exchange(bundle_, std::move(bundle));
  if (!current_) return {};
  auto built = build(current_->credentials);
  if (!built) {
    bundle_ = std::move(previous);
    return built.error();
  }
  current_ = *built;
  return {};
}

void IdentityManager::completed(Result<controlplane::WorkloadCredentials> r) {
  std::shared_ptr<const TlsState> state;
  if (r) {
    auto built = build(std::move(*r));
    if (built) {
      state = *built;
    } else {
      r = built.error();
    }
  }
  if (!state) {
    log::warn("certify failed; retrying",
              {{"reason", r.error().code},
               {"detail", r.error().message},
               {"retry_ms", static_cast<std::int64_t>(backoff_.count())}});
    if (on_change_) on_change_(nullptr);  // counts the failure
    timer_.expires_after(backoff_);
    backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, std::chrono::seconds(30));
  } else {
    backoff_ = std::chrono::milliseconds(200);
    current_ = state;
    auto now = Clock::now();
    auto life = state->credentials.expiry - now;
    // Renew at 70 % of the remaining lifetime (the certificate is fresh, so of its lifetime).
    auto renew_in = std::chrono::duration_cast<std::chrono::milliseconds>(life * 7 / 10);
    log::info("certificate installed",
              {{"identity", state->id.to_string()},
               {"renew_in_s", static_cast<std::int64_t>(renew_in.count() / 1000)}});
    if (on_change_) on_change_(state);
    timer_.expires_after(std::max<std::chrono::milliseconds>(renew_in, std::chrono::seconds(1)));
  }
  timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!ec && *alive) attempt();
  });
}

}  // namespace strait::proxy
