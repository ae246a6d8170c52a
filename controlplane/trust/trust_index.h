// TrustIndex: the roots this cluster's proxies and gateways must trust — the cluster's own
// anchors (unscoped) and the trust bundle of every Link in the store, each linked root scoped
// to the Link's trust domain — kept from store events and pushed, complete, to subscribers
// whenever the set changes. Pure: no gRPC, no store; the controller feeds it events.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/discovery/model.h"
#include "core/discovery/store.h"
#include "strait/trust.pb.h"

namespace strait::controlplane {

class TrustIndex {
 public:
  // Called with the index's lock held (see BoundedStream::push); false: drop the subscription.
  using Sink = std::function<bool(trust::v1::TrustBundleUpdate)>;

  // `anchors_pem`: the cluster's own trust anchors (every certificate in it becomes an unscoped
  // root). Certificates that do not parse are left out (the controller loaded the same file).
  explicit TrustIndex(const std::string& anchors_pem);

  std::uint64_t reserve_id() { return next_id_.fetch_add(1); }
  // Sends the current set before returning, then the complete set after every change.
  void subscribe(std::uint64_t id, Sink sink);
  void unsubscribe(std::uint64_t id);
  // Links only; every other kind is ignored.
  void apply(const discovery::Event& event);

  // The set in force now.
  trust::v1::TrustBundleUpdate current() const;
  // Why a Link's bundle contributes nothing (code of Error), by "<ns>/<name>"; a Link that is
  // used or that only repeats the local anchors is not listed.
  std::map<std::string, std::string> rejected() const;
  std::size_t subscriptions() const;

 private:
  using NsName = std::pair<std::string, std::string>;
  // (trust domain, one certificate's PEM); "" = unscoped.
  using Root = std::pair<std::string, std::string>;

  // Recomputes current_; true when it changed.
  bool rebuild_locked();
  // Logs the new set and pushes it to every subscriber.
  void publish_locked();

  std::set<std::string> anchors_;  // each local anchor's PEM
  mutable std::mutex mu_;
  std::map<NsName, std::vector<Root>> links_;  // accepted links' roots
  std::map<NsName, std::string> rejected_;
  trust::v1::TrustBundleUpdate current_;
  std::string current_wire_;
  std::map<std::uint64_t, Sink> subs_;
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace strait::controlplane
