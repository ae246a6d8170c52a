// StoreWorker: an io_context on one thread, a count of pending jobs, a drain with a deadline.
#include "link/store_worker.h"

#include <boost/asio/post.hpp>

namespace strait::link {

StoreWorker::StoreWorker() : guard_(io_.get_executor()) {
  thread_ = std::thread([this] { io_.run(); });
  thread_id_ = thread_.get_id();
}

StoreWorker::~StoreWorker() { shutdown(std::chrono::milliseconds(0)); }

void StoreWorker::post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    ++pending_;
  }
  boost::asio::post(io_, [this, job = std::move(job)] {
    if (!abandoning()) job();
    std::lock_guard lock(mu_);
    if (--pending_ == 0) idle_.notify_all();
  });
}

bool StoreWorker::wait_idle(std::chrono::milliseconds deadline) {
  std::unique_lock lock(mu_);
  return idle_.wait_for(lock, deadline, [this] { return pending_ == 0; });
}

bool StoreWorker::shutdown(std::chrono::milliseconds deadline) {
  if (joined_) return true;
  const bool drained = wait_idle(deadline);
  abandoning_.store(true, std::memory_order_release);
  guard_.reset();
  io_.stop();
  thread_.join();
  joined_ = true;
  return drained;
}

}  // namespace strait::link
