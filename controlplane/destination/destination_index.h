// DestinationIndex: the destination service's view of the store. It keeps services and
// endpoints indexed by name and address, holds every open subscription with what it last sent,
// and on each store event sends each affected subscription only the difference.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "controlplane/destination/target.h"
#include "core/base/result.h"
#include "core/discovery/store.h"
#include "strait/destination.pb.h"

namespace strait::controlplane {

class DestinationIndex {
 public:
  struct Settings {
    std::string cluster;
    std::string domain;                       // cluster domain, e.g. "cluster.local"
    std::uint16_t inbound_proxy_port = 4143;  // where meshed endpoints accept mTLS
  };
  // Delivers one update to a subscriber; false when the subscriber is gone or cut off.
  // Called with the index's lock held (see BoundedStream::push).
  using Sink = std::function<bool(destination::v1::Update)>;

  explicit DestinationIndex(Settings settings);

  // Subscription ids are reserved first, so that the subscriber can unsubscribe by id even
  // while subscribe() is still delivering the first update.
  std::uint64_t reserve_id() { return next_id_.fetch_add(1); }
  // Opens a subscription and sends its first update before returning.
  Result<void> subscribe(std::uint64_t id, std::string_view path, Sink sink);
  // Safe to call for an id already dropped.
  void unsubscribe(std::uint64_t id);

  void apply(const discovery::Event& event);
  std::size_t subscriptions() const;

 private:
  using NsName = std::pair<std::string, std::string>;
  using AddrMap = std::map<std::string, destination::v1::WeightedAddr>;  // "ip:port" -> addr

  struct Subscription {
    Target target;
    Sink sink;
    AddrMap sent;
    bool announced = false;    // the first update went out
    bool exists_sent = false;  // what the last NoEndpoints (or add) said about existence
    bool undeclared_sent = false;
    NsName resolved;  // the service it resolved to last ("" for none or a lone endpoint)
  };

  // What the target resolves to now: the service (if any) and its ready endpoints.
  struct Resolution {
    NsName key;
    const discovery::Service* service = nullptr;
    bool undeclared_port = false;  // the service exists without the port asked for
    AddrMap addrs;
    std::map<std::string, std::string> labels;
  };

  Resolution resolve_locked(const Target& target) const;
  destination::v1::WeightedAddr to_addr(const discovery::Endpoint& e, std::uint16_t port) const;
  // Sends what changed since the last update; drops the subscription if its sink refuses.
  void refresh_locked(std::uint64_t id, Subscription& sub);
  void refresh_all_locked();

  const Settings settings_;
  mutable std::mutex mu_;
  std::map<NsName, discovery::Service> services_;
  std::map<std::string, NsName> service_by_ip_;
  std::map<NsName, std::map<std::string, discovery::Endpoint>> endpoints_;  // by service
  std::map<NsName, NsName> service_of_endpoint_;  // endpoint (ns, name) -> its service
  std::map<std::uint64_t, Subscription> subs_;
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace strait::controlplane
