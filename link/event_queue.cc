// EventQueue: a list in event order plus an index by key for coalescing.
#include "link/event_queue.h"

#include <utility>

namespace strait::link {

std::string EventQueue::key_of(const LinkWork& work) {
  if (std::holds_alternative<LinkUpdated>(work)) return "link";
  const auto& e = std::get<LinkEvent>(work);
  return std::visit(
      [](const auto& ev) -> std::string {
        using E = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<E, ServiceExported>) {
          return "service/" + ev.remote.service.meta.ns + "/" + ev.remote.service.meta.name;
        } else if constexpr (std::is_same_v<E, ServiceUnexported>) {
          return "service/" + ev.ns + "/" + ev.name;
        } else if constexpr (std::is_same_v<E, Synced>) {
          return "synced";
        } else if constexpr (std::is_same_v<E, RepairEndpoints>) {
          return "repair";
        } else if constexpr (std::is_same_v<E, GatewayHealthChanged>) {
          return "gateway";
        } else {
          return "";
        }
      },
      e);
}

EventQueue::Pushed EventQueue::push(LinkWork work) {
  std::string key = key_of(work);
  const bool is_service = key.rfind("service/", 0) == 0;
  std::lock_guard lock(mu_);
  Outcome outcome = Outcome::kQueued;
  auto it = key.empty() ? by_key_.end() : by_key_.find(key);
  if (it != by_key_.end()) {
    outcome = Outcome::kCoalesced;
    if (key == "synced") {
      items_.erase(it->second);
      it->second = items_.insert(items_.end(), Entry{key, std::move(work)});
    } else {
      it->second->work = std::move(work);
    }
  } else if (is_service && services_ >= max_services_) {
    overflowed_ = true;
    return {Outcome::kDropped, false};
  } else {
    auto pos = items_.insert(items_.end(), Entry{key, std::move(work)});
    if (!key.empty()) by_key_.emplace(std::move(key), pos);
    if (is_service) ++services_;
  }
  const bool schedule = !draining_;
  draining_ = true;
  return {outcome, schedule};
}

std::optional<LinkWork> EventQueue::pop() {
  std::lock_guard lock(mu_);
  if (items_.empty()) {
    draining_ = false;
    return std::nullopt;
  }
  Entry e = std::move(items_.front());
  items_.pop_front();
  if (!e.key.empty()) by_key_.erase(e.key);
  if (e.key.rfind("service/", 0) == 0) --services_;
  return std::move(e.work);
}

bool EventQueue::take_overflow() {
  std::lock_guard lock(mu_);
  return std::exchange(overflowed_, false);
}

std::size_t EventQueue::size() const {
  std::lock_guard lock(mu_);
  return items_.size();
}

}  // namespace strait::link
