// PolicyCache: one inbound policy stream per workload port, opened on first use (or at start
// for the ports the workload declares) and kept; the last policy stays in force while the
// controller is away. Lives on the proxy's I/O thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>

#include "controlplane/client/watch_stream.h"
#include "core/discovery/model.h"
#include "strait/policy.grpc.pb.h"

namespace strait::proxy {

class PolicyCache {
 public:
  // A stub on the current channel; `fresh`: after a broken stream.
  using StubFactory = std::function<std::shared_ptr<policy::v1::InboundPolicies::Stub>(bool fresh)>;

  PolicyCache(boost::asio::io_context& io, StubFactory stubs, discovery::Labels workload_labels,
              std::function<void(bool connected)> on_stream_state);
  ~PolicyCache();

  // Starts watching a port (idempotent).
  void watch(std::uint16_t port);
  // The policy in force, waiting for the first one up to deadline; nullopt on timeout.
  boost::asio::awaitable<std::optional<policy::v1::InboundPolicy>> get(
      std::uint16_t port, std::chrono::steady_clock::time_point deadline);
  // The policy in force now, without waiting or copying (the per-request check of an HTTP
  // connection whose port get() has already answered); null when none has arrived.
  const policy::v1::InboundPolicy* current(std::uint16_t port) const;
  // Every watched port has received its first policy.
  bool all_known() const;

 private:
  struct Port {
    std::optional<policy::v1::InboundPolicy> policy;
    std::shared_ptr<
        controlplane::WatchStream<policy::v1::InboundPolicyRequest, policy::v1::InboundPolicy>>
        stream;
    std::list<boost::asio::steady_timer*> waiters;
  };

  boost::asio::io_context& io_;
  StubFactory stubs_;
  discovery::Labels labels_;
  std::function<void(bool)> on_stream_state_;
  std::map<std::uint16_t, std::unique_ptr<Port>> ports_;
};

}  // namespace strait::proxy
