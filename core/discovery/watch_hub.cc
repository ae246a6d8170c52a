// WatchHub: per-watch queues drained by a small worker pool. A watch is "scheduled" (in the ready
// queue or being drained) by at most one worker at a time, which is what serializes its callbacks.
// Lock order: Core::mu, then WatchState::mu.
#include "core/discovery/watch_hub.h"

#include <cassert>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <thread>

namespace strait::discovery {

namespace {

using EventPtr = std::shared_ptr<const Event>;

std::uint64_t version_of(const Event& e) { return meta_of(e.object).version; }

struct WatchState {
  std::set<Kind> kinds;
  std::function<void(const Event&)> on_event;

  std::mutex mu;
  std::condition_variable idle;  // signalled when `running` drops
  std::deque<EventPtr> queue;
  bool scheduled = false;  // in the ready queue or held by a worker
  bool running = false;    // a callback is executing now
  std::thread::id runner;
  bool cancelled = false;

  bool wants(const Event& e) const { return kinds.empty() || kinds.count(kind_of(e.object)) > 0; }
};

}  // namespace

struct WatchHub::Core {
  mutable std::mutex mu;
  std::condition_variable work;
  bool stopping = false;
  std::deque<EventPtr> log;
  std::size_t log_capacity = 0;
  std::uint64_t horizon = 0;  // every change after this version is in the log
  std::uint64_t last_version = 0;
  std::list<std::shared_ptr<WatchState>> watchers;
  std::deque<std::shared_ptr<WatchState>> ready;
  std::vector<std::thread> workers;

  // Caller holds mu.
  void enqueue(const std::shared_ptr<WatchState>& w, EventPtr e) {
    std::lock_guard<std::mutex> wl(w->mu);
    if (w->cancelled) return;
    w->queue.push_back(std::move(e));
    if (!w->scheduled) {
      w->scheduled = true;
      ready.push_back(w);
      work.notify_one();
    }
  }

  void run() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      work.wait(lock, [&] { return stopping || !ready.empty(); });
      if (stopping) return;
      std::shared_ptr<WatchState> w = std::move(ready.front());
      ready.pop_front();
      lock.unlock();
      drain(*w);
      lock.lock();
      // Reschedule if more arrived while draining; `scheduled` stays true in between, so
      // publish() never queues the watch twice.
      std::lock_guard<std::mutex> wl(w->mu);
      if (!w->cancelled && !w->queue.empty() && !stopping) {
        ready.push_back(w);
      } else {
        w->scheduled = false;
      }
    }
  }

  // Delivers what is queued now, checking for cancel before each callback.
  static void drain(WatchState& w) {
    std::deque<EventPtr> batch;
    {
      std::lock_guard<std::mutex> wl(w.mu);
      batch.swap(w.queue);
    }
    for (const EventPtr& e : batch) {
      {
        std::lock_guard<std::mutex> wl(w.mu);
        if (w.cancelled) return;
        w.running = true;
        w.runner = std::this_thread::get_id();
      }
      w.on_event(*e);
      {
        std::lock_guard<std::mutex> wl(w.mu);
        w.running = false;
        w.runner = {};
      }
      w.idle.notify_all();
    }
  }
};

namespace {

class HubWatch : public Watch {
 public:
  HubWatch(std::weak_ptr<WatchHub::Core> core, std::shared_ptr<WatchState> state)
      : core_(std::move(core)), state_(std::move(state)) {}
  ~HubWatch() override { cancel(); }

  void cancel() override {
    if (auto core = core_.lock()) {
      std::lock_guard<std::mutex> lock(core->mu);
      core->watchers.remove(state_);
    }
    std::unique_lock<std::mutex> wl(state_->mu);
    state_->cancelled = true;
    state_->queue.clear();
    // From inside the callback itself we cannot wait for it; it returns right after.
    if (state_->runner != std::this_thread::get_id()) {
      state_->idle.wait(wl, [&] { return !state_->running; });
    }
  }

 private:
  std::weak_ptr<WatchHub::Core> core_;
  std::shared_ptr<WatchState> state_;
};

}  // namespace

WatchHub::WatchHub(std::uint64_t current_version, WatchHubOptions options)
    : core_(std::make_shared<Core>()) {
  core_->log_capacity = options.log_capacity;
  core_->horizon = current_version;
  core_->last_version = current_version;
  std::size_t n = options.workers == 0 ? 1 : options.workers;
  for (std::size_t i = 0; i < n; ++i) {
    core_->workers.emplace_back([core = core_.get()] { core->run(); });
  }
}

WatchHub::~WatchHub() {
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->stopping = true;
  }
  core_->work.notify_all();
  for (auto& t : core_->workers) t.join();
  // Handles that outlive us must not wait for a worker that is gone.
  std::lock_guard<std::mutex> lock(core_->mu);
  for (auto& w : core_->watchers) {
    std::lock_guard<std::mutex> wl(w->mu);
    w->cancelled = true;
    w->queue.clear();
  }
  core_->watchers.clear();
  core_->ready.clear();
}

void WatchHub::publish(Event event) {
  auto e = std::make_shared<const Event>(std::move(event));
  std::uint64_t v = version_of(*e);
  std::lock_guard<std::mutex> lock(core_->mu);
  assert(v > core_->last_version && "events must be published in version order");
  core_->last_version = v;
  if (core_->log_capacity > 0) {
    core_->log.push_back(e);
    while (core_->log.size() > core_->log_capacity) {
      core_->horizon = version_of(*core_->log.front());
      core_->log.pop_front();
    }
  } else {
    core_->horizon = v;
  }
  for (const auto& w : core_->watchers) {
    if (w->wants(*e)) core_->enqueue(w, e);
  }
}

Result<WatchPtr> WatchHub::subscribe(const WatchRequest& request,
                                     std::function<void(const Event&)> on_event,
                                     std::vector<Event> initial, std::uint64_t current_version) {
  auto state = std::make_shared<WatchState>();
  state->kinds = request.kinds;
  state->on_event = std::move(on_event);

  std::lock_guard<std::mutex> lock(core_->mu);
  assert(current_version == core_->last_version && "subscribe must run under the backend's lock");
  (void)current_version;  // only checked in debug builds
  if (request.from_version == 0) {
    for (Event& e : initial) {
      if (state->wants(e)) core_->enqueue(state, std::make_shared<const Event>(std::move(e)));
    }
  } else {
    if (request.from_version < core_->horizon || request.from_version > core_->last_version) {
      return make_error("version_expired",
                        "cannot resume from version " + std::to_string(request.from_version) +
                            ": changes are kept from version " + std::to_string(core_->horizon) +
                            " to " + std::to_string(core_->last_version) +
                            "; list again and watch from 0");
    }
    for (const EventPtr& e : core_->log) {
      if (version_of(*e) > request.from_version && state->wants(*e)) core_->enqueue(state, e);
    }
  }
  core_->watchers.push_back(state);
  return WatchPtr(std::make_unique<HubWatch>(core_, std::move(state)));
}

std::uint64_t WatchHub::oldest_resumable_version() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->horizon;
}

std::size_t WatchHub::watcher_count() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->watchers.size();
}

}  // namespace strait::discovery
