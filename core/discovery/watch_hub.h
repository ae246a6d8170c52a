// WatchHub: the watch half of a Store, shared by every backend. It keeps the watchers, a bounded
// log of recent events (so a watcher can resume from a version), and delivers events on its own
// worker threads: in version order, one at a time per watch, never under the backend's data lock.
//
// Contract with the backend (what makes "list, then changes" gap-free):
//   - publish() is called for every change, in version order, while the backend still holds the
//     lock that orders its writes (so no two publishes race and versions only grow);
//   - subscribe() is called while the backend holds (at least a shared hold of) that same lock,
//     with the current state as `initial` when request.from_version == 0.
// The hub's own mutex nests inside the backend's lock and is held only briefly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/base/result.h"
#include "core/discovery/store.h"

namespace strait::discovery {

struct WatchHubOptions {
  std::size_t log_capacity = 10000;  // events kept for watch-from-version
  std::size_t workers = 2;           // delivery threads; a slow watch occupies at most one
};

class WatchHub {
 public:
  // current_version: the backend's version when the hub starts (events up to it are not in the
  // log, so resuming from an older version is version_expired).
  explicit WatchHub(std::uint64_t current_version, WatchHubOptions options = {});
  // Stops delivery and joins the workers. Outstanding Watch handles stay valid (cancel is a no-op).
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Records a change (event.object's meta.version is its version, strictly greater than the last)
  // and queues it for every matching watch.
  void publish(Event event);

  // from_version == 0: `initial` (the current state, as kAdded events) is delivered first, then
  // every change after `current_version`. from_version > 0: logged changes after it; error
  // version_expired if the log no longer reaches back that far or the version is in the future.
  // `initial` is ignored when from_version > 0.
  Result<WatchPtr> subscribe(const WatchRequest& request,
                             std::function<void(const Event&)> on_event, std::vector<Event> initial,
                             std::uint64_t current_version);

  // The oldest version one can resume from (changes after it are all in the log).
  std::uint64_t oldest_resumable_version() const;
  std::size_t watcher_count() const;

  struct Core;

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace strait::discovery
