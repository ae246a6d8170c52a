// StreamReader<Msg>: reads a server-streaming gRPC call in a background thread into a queue, so
// a test can wait, with a deadline, for the next message or for one matching a predicate, and
// for the stream's final status. Destruction cancels the call and joins the thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace strait::controlplane::testing {

template <typename Msg>
class StreamReader {
 public:
  // `start` opens the call on the given context, e.g.
  //   [&](grpc::ClientContext* c) { return stub->Get(c, request); }
  using Start = std::function<std::unique_ptr<grpc::ClientReader<Msg>>(grpc::ClientContext*)>;

  explicit StreamReader(const Start& start) : context_(std::make_unique<grpc::ClientContext>()) {
    reader_ = start(context_.get());
    thread_ = std::thread([this] { run(); });
  }
  ~StreamReader() {
    cancel();
    if (thread_.joinable()) thread_.join();
  }
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  void cancel() { context_->TryCancel(); }

  // The next message not yet taken, within the deadline.
  std::optional<Msg> next(std::chrono::milliseconds deadline) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, deadline, [this] { return !queue_.empty() || status_; })) {
      return std::nullopt;
    }
    if (queue_.empty()) return std::nullopt;
    Msg m = std::move(queue_.front());
    queue_.pop_front();
    return m;
  }

  // Takes messages until one matches (returned), within the deadline; the ones skipped are
  // kept in skipped() for diagnostics.
  std::optional<Msg> wait_for(const std::function<bool(const Msg&)>& match,
                              std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto m = next(left);
      if (!m) return std::nullopt;
      if (match(*m)) return m;
      std::lock_guard lock(mu_);
      skipped_.push_back(std::move(*m));
    }
  }

  // The final status, once the stream ended (within the deadline).
  std::optional<grpc::Status> wait_finished(std::chrono::milliseconds deadline) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, deadline, [this] { return status_.has_value(); });
    return status_;
  }

  std::vector<Msg> skipped() const {
    std::lock_guard lock(mu_);
    return skipped_;
  }
  std::size_t received() const {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  void run() {
    Msg m;
    while (reader_->Read(&m)) {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(m));
      ++received_;
      m = Msg();
      cv_.notify_all();
    }
    grpc::Status s = reader_->Finish();
    std::lock_guard lock(mu_);
    status_ = std::move(s);
    cv_.notify_all();
  }

  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<Msg>> reader_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Msg> queue_;
  std::vector<Msg> skipped_;
  std::size_t received_ = 0;
  std::optional<grpc::Status> status_;
};

}  // namespace strait::controlplane::testing
