// PolicyIndex: inbound policy per workload port, computed from Servers and
// AuthorizationPolicies, pushed to subscribers whenever the result changes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "core/discovery/store.h"
#include "strait/policy.pb.h"

namespace strait::controlplane {

class PolicyIndex {
 public:
  // Called with the index's lock held (see BoundedStream::push).
  using Sink = std::function<bool(policy::v1::InboundPolicy)>;

  explicit PolicyIndex(policy::v1::DefaultPolicy cluster_default);

  std::uint64_t reserve_id() { return next_id_.fetch_add(1); }
  // Sends the current policy before returning, then every change.
  void subscribe(std::uint64_t id, std::string ns, discovery::Labels workload_labels,
                 std::uint16_t port, Sink sink);
  void unsubscribe(std::uint64_t id);
  void apply(const discovery::Event& event);

  // The policy now in force (also used by tests and straitctl).
  policy::v1::InboundPolicy compute(const std::string& ns, const discovery::Labels& labels,
                                    std::uint16_t port) const;

 private:
  struct Subscription {
    std::string ns;
    discovery::Labels labels;
    std::uint16_t port = 0;
    Sink sink;
    std::string last;  // serialized last policy sent
  };
  using NsName = std::pair<std::string, std::string>;

  policy::v1::InboundPolicy compute_locked(const std::string& ns, const discovery::Labels& labels,
                                           std::uint16_t port) const;
  void refresh_locked(std::uint64_t id, Subscription& sub);

  const policy::v1::DefaultPolicy cluster_default_;
  mutable std::mutex mu_;
  std::map<NsName, discovery::Server> servers_;
  std::map<NsName, discovery::AuthorizationPolicy> authorizations_;
  std::map<std::uint64_t, Subscription> subs_;
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace strait::controlplane
