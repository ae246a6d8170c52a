// RetryQueue: per-key backoff and a global token bucket over one steady timer.
#include "link/retry_queue.h"

#include <algorithm>

namespace strait::link {
using Clock = std::chrono::steady_clock;

RetryQueue::RetryQueue(boost::asio::any_io_executor executor, Options options, OnFailure on_failure)
    : options_(options),
      on_failure_(std::move(on_failure)),
      timer_(executor),
      tokens_(options.burst),
      refilled_(Clock::now()) {}

RetryQueue::~RetryQueue() {
  *alive_ = false;
  timer_.cancel();
}

void RetryQueue::add(RetryWork work) {
  auto& item = items_[work.key];
  item.run = std::move(work.run);
  item.backoff = item.backoff.count() == 0 ? options_.min_backoff
                                           : std::min(item.backoff * 2, options_.max_backoff);
  item.due = Clock::now() + item.backoff;
  arm();
}

void RetryQueue::clear() {
  items_.clear();
  timer_.cancel();
}

bool RetryQueue::take_token(Clock::time_point now) {
  const double elapsed = std::chrono::duration<double>(now - refilled_).count();
  tokens_ = std::min(options_.burst, tokens_ + elapsed * options_.rate_per_second);
  refilled_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

void RetryQueue::arm() {
  if (items_.empty()) return;
  auto next = Clock::time_point::max();
  for (const auto& [k, item] : items_) next = std::min(next, item.due);
  timer_.expires_at(next);
  timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    fire();
  });
}

void RetryQueue::fire() {
  const auto now = Clock::now();
  std::vector<std::string> due;
  for (const auto& [k, item] : items_) {
    if (item.due <= now) due.push_back(k);
  }
  for (const auto& key : due) {
    auto it = items_.find(key);
    if (it == items_.end()) continue;
    if (!take_token(now)) {
      // Out of tokens: the rest wait for the bucket to refill.
      const auto wait = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(1.0 / options_.rate_per_second));
      for (auto& k : due) {
        if (auto j = items_.find(k); j != items_.end() && j->second.due <= now)
          j->second.due = now + wait;
      }
      break;
    }
    auto run = it->second.run;  // the call may add() this key again
    auto result = run();
    it = items_.find(key);
    if (result) {
      if (it != items_.end() && it->second.due <= now) items_.erase(it);
      continue;
    }
    const bool again = retryable(result.error());
    if (on_failure_) on_failure_(key, result.error(), !again);
    if (it == items_.end()) continue;
    if (!again) {
      items_.erase(it);
    } else if (it->second.due <= now) {
      it->second.backoff = std::min(it->second.backoff * 2, options_.max_backoff);
      it->second.due = now + it->second.backoff;
    }
  }
  arm();
  if (on_round_) on_round_();
}

}  // namespace strait::link
