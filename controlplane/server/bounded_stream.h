// BoundedStream<Msg>: a server-streaming gRPC reactor with a bounded send queue. Producers
// (store watchers) push without ever blocking; a subscriber that stops reading lets the queue
// fill, and is then cut off with RESOURCE_EXHAUSTED and counted, so it never slows the others.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_callback.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

namespace strait::controlplane {

template <typename Msg>
class BoundedStream : public grpc::ServerWriteReactor<Msg> {
 public:
  struct Hooks {
    std::function<void()> on_overflow;  // count it
    std::function<void()> on_done;      // unsubscribe; called once, before deletion
  };

  BoundedStream(std::size_t capacity, Hooks hooks)
      : capacity_(capacity), hooks_(std::move(hooks)) {}

  // Queues a message; false when the stream is finished or has just been cut off.
  // Callers serialize push() with their own lock, the same lock on_done takes: that lock is
  // what keeps this object alive while it is being pushed to.
  bool push(Msg msg) {
    std::lock_guard lock(mu_);
    if (finished_) return false;
    if (queue_.size() >= capacity_) {
      if (hooks_.on_overflow) hooks_.on_overflow();
      finish_locked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "subscriber too slow: send queue full, stream cut off"));
      return false;
    }
    queue_.push_back(std::move(msg));
    if (!writing_) start_next_locked();
    return true;
  }

  // Ends the stream with a status (e.g. the server shuts down).
  void finish(grpc::Status status) {
    std::lock_guard lock(mu_);
    finish_locked(std::move(status));
  }

 private:
  void finish_locked(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    // The message in flight must stay alive until OnWriteDone.
    queue_.erase(writing_ ? queue_.begin() + 1 : queue_.begin(), queue_.end());
    this->Finish(std::move(status));
  }

  void start_next_locked() {
    if (queue_.empty() || finished_) return;
    writing_ = true;
    this->StartWrite(&queue_.front());
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    queue_.pop_front();
    if (!ok) finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
    start_next_locked();
  }

  void OnCancel() override { finish(grpc::Status::CANCELLED); }

  void OnDone() override {
    if (hooks_.on_done) hooks_.on_done();
    delete this;
  }

  const std::size_t capacity_;
  Hooks hooks_;
  std::mutex mu_;
  std::deque<Msg> queue_;  // front() is in flight while writing_
  bool writing_ = false;
  bool finished_ = false;
};

// What a streaming service reports about its streams (to its metrics).
struct StreamHooks {
  std::function<void(int)> streams_delta;  // +1 on open, -1 on close
  std::function<void()> overflow;          // a subscriber was cut off
};

// Opens a counted stream whose close runs `unsubscribe` (which must take the lock that the
// producer holds while pushing).
template <typename Msg>
BoundedStream<Msg>* open_bounded_stream(std::size_t capacity, const StreamHooks& hooks,
                                        std::function<void()> unsubscribe) {
  if (hooks.streams_delta) hooks.streams_delta(+1);
  return new BoundedStream<Msg>(
      capacity, {.on_overflow = hooks.overflow,
                 .on_done = [delta = hooks.streams_delta, unsubscribe = std::move(unsubscribe)] {
                   unsubscribe();
                   if (delta) delta(-1);
                 }});
}

}  // namespace strait::controlplane
