// LinkMirrors: what one link has mirrored into the local store, and the handlers of its typed
// events (events.h), one each. Mirror shapes come from topologies/ only; this class decides
// which shape applies, diffs against what it wrote, and writes through LocalStore with owner
// "link:<target>". A handler that fails leaves its state updated: retry_for() names the work
// (by key, so repeated failures collapse) that brings the store in line with it.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/base/result.h"
#include "link/events.h"
#include "link/federated_set.h"
#include "link/local_store.h"

namespace strait::link {

struct MirrorStatus {
  std::string ns;
  std::string name;       // the mirror's name (<svc>-<cluster>)
  std::string service;    // the remote service
  std::string mode;       // gateway | flat | federated
  std::string condition;  // ok | missing_namespace | conflict | pending | stale
  std::size_t endpoints = 0;
  std::size_t ready_endpoints = 0;
};

// A unit of work for the retry queue: a stable key and the call that redoes it.
struct RetryWork {
  std::string key;
  std::function<Result<void>()> run;
};

class LinkMirrors {
 public:
  using NsName = std::pair<std::string, std::string>;

  // `federated` may be null (no federated mirroring).
  LinkMirrors(discovery::Link link, std::string local_cluster, LocalStore& store,
              FederatedSet* federated);

  // Exactly one handler per event type.
  Result<void> on(const LinkEvent& event);
  Result<void> on_exported(const ServiceExported& e);
  Result<void> on_unexported(const ServiceUnexported& e);
  Result<void> on_synced(const Synced& e);
  Result<void> on_link_removed(const LinkRemoved& e);
  Result<void> on_repair(const RepairEndpoints& e);
  Result<void> on_gateway_health(const GatewayHealthChanged& e);
  Result<void> on_stale(const StaleChanged& e);

  RetryWork retry_for(const LinkEvent& event);

  // The Link's spec changed (not its token): every mirror is re-shaped.
  Result<void> update_link(const discovery::Link& link);
  void set_gateway_addresses(std::vector<std::string> addresses) {
    gateway_.addresses = std::move(addresses);
  }

  const discovery::Link& link() const { return link_; }
  const topologies::GatewayView& gateway() const { return gateway_; }
  bool synced() const { return synced_; }
  bool stale() const { return stale_; }
  // The services the target exports now (as far as this link has been told).
  std::vector<NsName> exported() const;
  std::size_t mirror_count() const;
  std::vector<MirrorStatus> status() const;

 private:
  Result<void> reconcile(const NsName& service, bool force);
  // repair: compare what was written with the store (two List calls) and rewrite only what
  // drifted, instead of writing every object again.
  Result<void> reconcile_all(bool repair, bool gateway_only = false);
  // Forgets written objects that the store no longer holds as written (deleted or changed).
  Result<void> forget_drifted();
  // The local Services of a namespace: from the pass's listing, else one List call.
  Result<std::vector<discovery::Object>> local_services(const std::string& ns);
  Result<void> collect_garbage();
  Result<void> remove_all();
  // Every mirror re-shaped as stale, and every ready endpoint this link owns made not ready.
  Result<void> mark_stale();

  discovery::Link link_;
  const std::string local_cluster_;
  const std::string owner_;
  LocalStore& store_;
  FederatedSet* federated_;
  topologies::GatewayView gateway_;
  bool synced_ = false;
  bool stale_ = false;
  std::int64_t stale_since_unix_ = 0;
  std::map<NsName, topologies::RemoteService> remotes_;  // what the target exports now
  std::map<NsName, std::map<discovery::ObjectKey, discovery::Object>> written_;
  std::map<NsName, MirrorStatus> status_;
  // During a reconcile_all pass: every local Service by namespace (one List for the pass).
  std::optional<std::map<std::string, std::vector<discovery::Object>>> services_by_ns_;
};

}  // namespace strait::link
