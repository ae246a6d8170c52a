// ProxyContext: what every connection of one proxy shares — configuration, metrics, identity,
// the destination and policy caches, the connection set. All of it lives on the proxy's one
// I/O thread, so none of it needs a lock.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <utility>
#include <vector>
#include <memory>
#include <random>
#include <set>

#include "core/log/log.h"
#include "sidecar/proxy/connection_set.h"
#include "sidecar/proxy/destination_cache.h"
#include "sidecar/proxy/identity_manager.h"
#include "sidecar/proxy/net_util.h"
#include "sidecar/proxy/policy_cache.h"
#include "sidecar/proxy/proxy_config.h"
#include "sidecar/proxy/proxy_metrics.h"
#include "sidecar/proxy/relay.h"

namespace strait::proxy {

class H2Pool;

// Callbacks for events of the whole proxy, each removed when its Guard goes.
class Hooks {
 public:
  class Guard {
   public:
    Guard() = default;
    Guard(Hooks* hooks, std::uint64_t id) : hooks_(hooks), id_(id) {}
    Guard(Guard&& o) noexcept : hooks_(std::exchange(o.hooks_, nullptr)), id_(o.id_) {}
    Guard& operator=(Guard&& o) noexcept {
      if (this != &o) {
        reset();
        hooks_ = std::exchange(o.hooks_, nullptr);
        id_ = o.id_;
      }
      return *this;
    }
    ~Guard() { reset(); }
    void reset() {
      if (hooks_) hooks_->hooks_.erase(id_);
      hooks_ = nullptr;
    }

   private:
    Hooks* hooks_ = nullptr;
    std::uint64_t id_ = 0;
  };
  [[nodiscard]] Guard add(std::function<void()> f) {
    const std::uint64_t id = next_++;
    hooks_.emplace(id, std::move(f));
    return Guard(this, id);
  }
  // Runs every hook once (a hook may remove itself or others meanwhile).
  void run() {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, f] : hooks_) ids.push_back(id);
    for (auto id : ids) {
      auto it = hooks_.find(id);
      if (it != hooks_.end()) it->second();
    }
  }

 private:
  std::map<std::uint64_t, std::function<void()>> hooks_;
  std::uint64_t next_ = 1;
};

struct ProxyContext {
  ProxyContext(boost::asio::io_context& io, const ProxyConfig& config, ProxyMetrics& metrics,
               IdentityManager& identity, DestinationCache& destinations, PolicyCache& policies,
               ConnectionSet& connections)
      : io(io),
        config(config),
        metrics(metrics),
        identity(identity),
        destinations(destinations),
        policies(policies),
        connections(connections) {}
  ProxyContext(const ProxyContext&) = delete;
  ProxyContext& operator=(const ProxyContext&) = delete;

  boost::asio::io_context& io;
  const ProxyConfig& config;
  ProxyMetrics& metrics;
  IdentityManager& identity;
  DestinationCache& destinations;
  PolicyCache& policies;
  ConnectionSet& connections;
  std::minstd_rand rng{std::random_device{}()};
  // Every port this process listens on (filled as listeners bind, before serving): a remote
  // caller never reaches one of them through the inbound forwarder, which would make it a
  // loopback peer of the proxy's own admin server (docs/security.md).
  std::set<std::uint16_t> own_ports;
  // HTTP/2 connections to other proxies (owned by the runtime); null: HTTP is relayed as bytes.
  H2Pool* h2_pool = nullptr;

  // Draining (set once, by the runtime's drain): HTTP sessions that keep a connection open
  // between requests hear of it — HTTP/2 servers through a hook (GOAWAY), HTTP/1 servers
  // through the flag (Connection: close on the last response).
  bool draining = false;
  // Runs `f` when the drain starts (at once if it has); the hook ends with the returned guard.
  [[nodiscard]] Hooks::Guard on_drain(std::function<void()> f) {
    if (draining) {
      f();
      return {};
    }
    return drain_hooks.add(std::move(f));
  }
  void start_drain() {
    if (draining) return;
    draining = true;
    drain_hooks.run();
  }
  Hooks drain_hooks;
  // A trust root was withdrawn (a Link removed): connections accepted under the old trust are
  // cut, so that the peer has to handshake again against what is trusted now.
  Hooks trust_withdrawn;

  // Counts a connection refused before it reached the application or a server, and logs it
  // (at most one line per direction and reason per second: refusals come from untrusted peers).
  void refuse(const char* direction, const std::string& reason, const std::string& detail) {
    metrics.refused.with({direction, reason}).inc();
    std::uint64_t dropped = 0;
    if (!refusal_log.allow(std::string(direction) + "/" + reason, &dropped)) return;
    log::warn("connection refused", {{"direction", direction},
                                     {"reason", reason},
                                     {"detail", detail},
                                     {"not_logged_since", dropped}});
  }
  log::RateLimit refusal_log;
};

// One proxied connection's metric handles: opened on construction, closed with an error label.
class ConnectionMetrics {
 public:
  ConnectionMetrics(ProxyMetrics& m, ConnLabels labels) : m_(m), labels_(std::move(labels)) {
    auto v = labels_.values();
    m_.tcp_open_total.with(v).inc();
    open_ = m_.tcp_open_connections.with(v);
    open_.inc();
  }
  ConnectionMetrics(const ConnectionMetrics&) = delete;
  ConnectionMetrics& operator=(const ConnectionMetrics&) = delete;
  ~ConnectionMetrics() {
    if (!closed_) closed("aborted");
  }

  RelayCounters counters() const {
    auto v = labels_.values();
    return {m_.tcp_read_bytes_total.with(v), m_.tcp_write_bytes_total.with(v)};
  }
  void closed(const std::string& error) {
    if (closed_) return;
    closed_ = true;
    auto v = labels_.values();
    v.push_back(error);
    m_.tcp_close_total.with(v).inc();
    open_.dec();
  }

 private:
  ProxyMetrics& m_;
  ConnLabels labels_;
  metrics::Gauge open_;
  bool closed_ = false;
};

}  // namespace strait::proxy
