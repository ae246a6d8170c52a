// ExportIndex: the export API's view of the store — exported services (by label, or by a
// ServiceExport of their name: then as federated members) and their ready endpoints — and one
// subscription per linked cluster, each sent a service whole whenever what it would see of it
// changes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "core/discovery/store.h"
#include "strait/export.pb.h"

namespace strait::controlplane {

class ExportIndex {
 public:
  // Called with the index's lock held (see BoundedStream::push).
  using Sink = std::function<bool(exports::v1::ExportEvent)>;

  std::uint64_t reserve_id() { return next_id_.fetch_add(1); }
  // Sends the current exports for `cluster`, then Synced, then changes.
  void subscribe(std::uint64_t id, std::string cluster, const exports::v1::WatchExports& request,
                 Sink sink);
  void unsubscribe(std::uint64_t id);
  void apply(const discovery::Event& event);

 private:
  using NsName = std::pair<std::string, std::string>;
  struct Subscription {
    std::string cluster;
    discovery::Link selectors;  // only the selector fields are used
    Sink sink;
    std::map<NsName, std::string> sent;  // service -> last payload sent
  };

  // The event to send `sub` about a service now (nullopt: nothing changed).
  void refresh_locked(std::uint64_t id, Subscription& sub, const NsName& service);
  // Recomputes services_[key] from the local service and its ServiceExport.
  void reexport_locked(const NsName& key);

  std::mutex mu_;
  std::map<NsName, discovery::Service> local_;     // every Service not written by a link
  std::set<NsName> service_exports_;               // ServiceExport objects
  std::map<NsName, discovery::Service> services_;  // exported ones only, as sent
  std::map<NsName, std::map<std::string, discovery::Endpoint>> endpoints_;  // by service
  std::map<NsName, NsName> service_of_endpoint_;
  std::map<std::uint64_t, Subscription> subs_;
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace strait::controlplane
