// LinkWriter: the store side of one link. The I/O thread (LinkWatcher) only posts work into its
// EventQueue; the StoreWorker thread runs the handlers (LinkMirrors::on) in event order, owns the
// LinkMirrors and the RetryQueue, and publishes a LinkSnapshot for status readers. Held by a
// shared_ptr: queued drains keep it alive; the watcher hands its last reference to the store
// thread, so it is destroyed there (its retry timer belongs to that thread).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "link/event_queue.h"
#include "link/link_metrics.h"
#include "link/link_mirrors.h"
#include "link/retry_queue.h"
#include "link/store_worker.h"

namespace strait::link {

// What the store side has done, copied out under a mutex after each handler and retry round.
struct LinkSnapshot {
  bool synced = false;
  bool gateway_alive = true;  // as applied to the mirrors (lags the probe while the store is slow)
  std::vector<MirrorStatus> mirrors;
  std::size_t mirror_count = 0;
  std::size_t retries_pending = 0;
  std::size_t queued = 0;
  bool remove_done = false;  // LinkRemoved handled and nothing left to retry
  std::string last_error;
};

class LinkWriter : public std::enable_shared_from_this<LinkWriter> {
 public:
  struct Options {
    RetryQueue::Options retry;
    std::size_t max_queued_services = 4096;
  };
  // `on_overflow` runs on the store thread once the queue has drained after a drop: it must
  // only post to its owner's thread (which then resyncs).
  static std::shared_ptr<LinkWriter> make(StoreWorker& worker, discovery::Link link,
                                          std::string local_cluster, LocalStore& store,
                                          FederatedSet* federated, LinkMetrics& metrics,
                                          Options options, std::function<void()> on_overflow);
  LinkWriter(const LinkWriter&) = delete;
  LinkWriter& operator=(const LinkWriter&) = delete;

  // Any thread: queues the work (never blocks on the store).
  EventQueue::Outcome post(LinkWork work);
  // Any thread: the pending retries are dropped (the link stops; not after LinkRemoved, whose
  // removal keeps being retried).
  void clear_retries();
  LinkSnapshot snapshot() const;
  void set_last_error(std::string error);

  // Store thread only.
  const LinkMirrors& mirrors() const { return mirrors_; }

 private:
  struct Private {};

 public:
  LinkWriter(Private, StoreWorker& worker, discovery::Link link, std::string local_cluster,
             LocalStore& store, FederatedSet* federated, LinkMetrics& metrics, Options options,
             std::function<void()> on_overflow);

 private:
  void drain();
  void run(const LinkWork& work);
  void publish();

  StoreWorker& worker_;
  const std::string target_;
  LinkMetrics& metrics_;
  std::function<void()> on_overflow_;
  EventQueue queue_;
  // Store thread only.
  LinkMirrors mirrors_;
  RetryQueue retry_;
  bool removed_ = false;
  // Shared with readers on other threads.
  mutable std::mutex mu_;
  LinkSnapshot snapshot_;
};

}  // namespace strait::link
