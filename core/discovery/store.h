// The store interface every reader and writer of the discovery layer uses. Backends: embedded
// (controlplane/store, persisted under the state directory); later etcd and Kubernetes. Readers
// never see which one they talk to.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "core/base/result.h"
#include "core/discovery/model.h"

namespace strait::discovery {

struct Event {
  enum class Type { kAdded, kModified, kDeleted };
  Type type = Type::kAdded;
  Object object;  // for kDeleted: the last state, with the deletion's version in meta.version
};

// A live subscription. Destroying it (or calling cancel) stops delivery; after cancel returns,
// the callback is not running and will not run again.
class Watch {
 public:
  virtual ~Watch() = default;
  virtual void cancel() = 0;
};
using WatchPtr = std::unique_ptr<Watch>;

struct WatchRequest {
  std::set<Kind> kinds;            // empty: every kind
  std::uint64_t from_version = 0;  // 0: start with the current state as kAdded events, then changes
                                   // >0: replay changes after it (error version_expired if too old)
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates or replaces. With expected_version, fails with "conflict" unless the stored
  // object has that version (0: must not exist). Returns the object as stored (with version).
  virtual Result<Object> put(Object object, std::optional<std::uint64_t> expected_version = {}) = 0;
  // Removes; error "not_found" when absent. Returns the removed object.
  virtual Result<Object> remove(const ObjectKey& key) = 0;

  virtual std::optional<Object> get(const ObjectKey& key) const = 0;
  // Every object of a kind; ns empty: all namespaces.
  virtual std::vector<Object> list(Kind kind, const std::string& ns = {}) const = 0;
  virtual std::uint64_t version() const = 0;

  // Events are delivered in version order, one at a time per watch, from a thread of the
  // store's choosing; the callback must be quick and must not call back into the store.
  virtual Result<WatchPtr> watch(const WatchRequest& request,
                                 std::function<void(const Event&)> on_event) = 0;
};
using StorePtr = std::unique_ptr<Store>;

}  // namespace strait::discovery
