// RetryQueue: work that failed with a retryable error, redone later. Per key (a service, "gc",
// "repair"): exponential backoff, and a newer failure of the same key replaces the older one
// rather than queueing twice. Across keys: a token bucket, so a controller that comes back is
// not hit by every retry at once. Runs on one executor (the store thread, StoreWorker).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "link/link_mirrors.h"

namespace strait::link {

class RetryQueue {
 public:
  struct Options {
    std::chrono::milliseconds min_backoff{100};
    std::chrono::milliseconds max_backoff{30'000};
    double rate_per_second = 10;  // retries started per second, all keys together
    double burst = 10;
  };
  // Called after every failed retry: `gave_up` when the error was not retryable.
  using OnFailure = std::function<void(const std::string& key, const Error& error, bool gave_up)>;

  RetryQueue(boost::asio::any_io_executor executor, Options options, OnFailure on_failure = {});
  ~RetryQueue();
  RetryQueue(const RetryQueue&) = delete;
  RetryQueue& operator=(const RetryQueue&) = delete;

  // Schedules `work` after its key's current backoff (which then doubles).
  void add(RetryWork work);
  void clear();
  std::size_t size() const { return items_.size(); }
  // Called after every round of retries (the owner republishes its status).
  void on_round(std::function<void()> f) { on_round_ = std::move(f); }

 private:
  struct Item {
    std::function<Result<void>()> run;
    std::chrono::steady_clock::time_point due;
    std::chrono::milliseconds backoff{0};
  };
  void arm();
  void fire();
  bool take_token(std::chrono::steady_clock::time_point now);

  Options options_;
  OnFailure on_failure_;
  std::function<void()> on_round_;
  boost::asio::steady_timer timer_;
  std::map<std::string, Item> items_;
  double tokens_;
  std::chrono::steady_clock::time_point refilled_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace strait::link
