// StoreWorker: the one thread of strait-link that talks to the local store. Every call that
// goes to the local controller's admin API (the links' handlers and retries, the Link poller,
// the orphan and federated GC) runs here, so that a slow or absent controller delays only other
// store calls, never the I/O thread's probes, export streams, timers and admin server.
// One thread, not a pool: the store client (StateDirLocalStore) and the FederatedSet shared by
// every link are single-threaded, and a stalled store stalls every writer anyway.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace strait::link {

class StoreWorker {
 public:
  StoreWorker();
  ~StoreWorker();  // shutdown(0)
  StoreWorker(const StoreWorker&) = delete;
  StoreWorker& operator=(const StoreWorker&) = delete;

  // For timers of the store side (the RetryQueues): their handlers run on the worker thread.
  boost::asio::any_io_executor executor() { return io_.get_executor(); }
  // Runs `job` on the worker thread, in posting order. The few callers bound what they post
  // (one drain per link at a time, one poll at a time); events go through EventQueue first.
  void post(std::function<void()> job);
  // Waits up to `deadline` for every posted job to have run (retry timers not counted), then
  // abandons the rest (abandoning() turns true, so a drain stops between two events) and joins
  // the thread, after the store call in progress returns (it has its own deadline). Idempotent;
  // true when everything ran.
  bool shutdown(std::chrono::milliseconds deadline);
  bool abandoning() const { return abandoning_.load(std::memory_order_acquire); }
  // Waits until every job posted so far has run (tests, drains).
  bool wait_idle(std::chrono::milliseconds deadline);
  bool in_worker_thread() const { return std::this_thread::get_id() == thread_id_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::size_t pending_ = 0;  // jobs posted and not yet run (under mu_)
  std::atomic<bool> abandoning_{false};
  bool joined_ = false;
  std::thread thread_;
  std::thread::id thread_id_;
};

}  // namespace strait::link
