// LinkWriter: drains one link's EventQueue on the store thread, a batch at a time.
#include "link/link_writer.h"

#include "core/log/log.h"

namespace strait::link {
namespace {
const log::Logger kLog("link");
// Events of one link handled before the drain yields to the other links' drains.
constexpr int kBatch = 32;
}  // namespace

std::shared_ptr<LinkWriter> LinkWriter::make(StoreWorker& worker, discovery::Link link,
                                             std::string local_cluster, LocalStore& store,
                                             FederatedSet* federated, LinkMetrics& metrics,
                                             Options options, std::function<void()> on_overflow) {
  return std::make_shared<LinkWriter>(Private{}, worker, std::move(link), std::move(local_cluster),
                                      store, federated, metrics, options, std::move(on_overflow));
}

LinkWriter::LinkWriter(Private, StoreWorker& worker, discovery::Link link,
                       std::string local_cluster, LocalStore& store, FederatedSet* federated,
                       LinkMetrics& metrics, Options options, std::function<void()> on_overflow)
    : worker_(worker),
      target_(link.target_cluster),
      metrics_(metrics),
      on_overflow_(std::move(on_overflow)),
      queue_(options.max_queued_services),
      mirrors_(std::move(link), std::move(local_cluster), store, federated),
      retry_(worker.executor(), options.retry,
             [this](const std::string& key, const Error& error, bool gave_up) {
               metrics_.retries.with({target_, gave_up ? "gave_up" : "retrying"}).inc();
               set_last_error(error.to_string());
               kLog.warn(
                   gave_up ? "link work failed, not retryable" : "link work failed, will retry",
                   {{"target_cluster", target_}, {"work", key}, {"error", error.to_string()}});
             }) {
  retry_.on_round([this] { publish(); });
}

EventQueue::Outcome LinkWriter::post(LinkWork work) {
  auto pushed = queue_.push(std::move(work));
  if (pushed.outcome == EventQueue::Outcome::kDropped) {
    metrics_.events_dropped.with({target_, "queue_full"}).inc();
  } else if (pushed.outcome == EventQueue::Outcome::kCoalesced) {
    metrics_.events_dropped.with({target_, "coalesced"}).inc();
  }
  metrics_.events_queued.with({target_}).set(static_cast<double>(queue_.size()));
  if (pushed.schedule) worker_.post([self = shared_from_this()] { self->drain(); });
  return pushed.outcome;
}

void LinkWriter::clear_retries() {
  worker_.post([self = shared_from_this()] {
    if (self->removed_) return;
    self->retry_.clear();
    self->publish();
  });
}

void LinkWriter::drain() {
  for (int i = 0; i < kBatch; ++i) {
    if (worker_.abandoning()) return;
    auto work = queue_.pop();
    if (!work) {
      if (queue_.take_overflow()) {
        kLog.warn("link events were dropped (queue full): resyncing",
                  {{"target_cluster", target_}});
        if (on_overflow_) on_overflow_();
      }
      return;
    }
    run(*work);
    publish();
  }
  // More to do: behind the other links' drains, so one busy link does not starve them.
  worker_.post([self = shared_from_this()] { self->drain(); });
}

void LinkWriter::run(const LinkWork& work) {
  if (const auto* u = std::get_if<LinkUpdated>(&work)) {
    auto r = mirrors_.update_link(u->link);
    if (!r) {
      set_last_error(r.error().to_string());
      if (retryable(r.error())) retry_.add(mirrors_.retry_for(RepairEndpoints{}));
    }
    return;
  }
  const auto& event = std::get<LinkEvent>(work);
  metrics_.events.with({target_, std::string(event_name(event))}).inc();
  auto r = mirrors_.on(event);
  if (std::holds_alternative<LinkRemoved>(event)) removed_ = true;
  if (!r) {
    set_last_error(r.error().to_string());
    if (retryable(r.error())) {
      retry_.add(mirrors_.retry_for(event));
    } else {
      kLog.warn("link event failed", {{"target_cluster", target_},
                                      {"event", event_name(event)},
                                      {"error", r.error().to_string()}});
    }
  }
}

void LinkWriter::publish() {
  LinkSnapshot s;
  s.synced = mirrors_.synced();
  s.gateway_alive = mirrors_.gateway().alive;
  s.mirrors = mirrors_.status();
  s.mirror_count = mirrors_.mirror_count();
  s.retries_pending = retry_.size();
  s.queued = queue_.size();
  s.remove_done = removed_ && retry_.size() == 0;
  if (removed_) {
    metrics_.mirrors.remove({target_});
    metrics_.events_queued.remove({target_});
  } else {
    metrics_.mirrors.with({target_}).set(static_cast<double>(s.mirror_count));
    metrics_.events_queued.with({target_}).set(static_cast<double>(s.queued));
  }
  std::lock_guard lock(mu_);
  s.last_error = std::move(snapshot_.last_error);
  snapshot_ = std::move(s);
}

LinkSnapshot LinkWriter::snapshot() const {
  LinkSnapshot s;
  {
    std::lock_guard lock(mu_);
    s = snapshot_;
  }
  s.queued = queue_.size();  // now, not as of the last handler (which may be stuck)
  return s;
}

void LinkWriter::set_last_error(std::string error) {
  std::lock_guard lock(mu_);
  snapshot_.last_error = std::move(error);
}

}  // namespace strait::link
