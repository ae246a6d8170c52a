// WatchStream<Req, Resp>: a server-streaming call to the controller that stays open. It
// reopens with backoff when it breaks (the controller restarted, the network blinked) and
// hands every message, and every connect/disconnect, to the caller's executor, so a
// single-threaded data plane sees them in order on its own thread. Callers keep what the
// stream told them while it is down: a cache that outlives the controller.
//
// Each stream reads on a thread of its own with gRPC's synchronous API: simple, and close()
// can wait for it, so nothing touches the executor once close() has returned.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/sync_stream.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace strait::controlplane {

// A reader that also keeps alive what it was made from (the stub, hence the channel).
template <typename Resp, typename Keep>
class KeepingReader final : public grpc::ClientReaderInterface<Resp> {
 public:
  KeepingReader(Keep keep, std::unique_ptr<grpc::ClientReaderInterface<Resp>> reader)
      : keep_(std::move(keep)), reader_(std::move(reader)) {}
  bool Read(Resp* m) override { return reader_->Read(m); }
  bool NextMessageSize(std::uint32_t* sz) override { return reader_->NextMessageSize(sz); }
  void WaitForInitialMetadata() override { reader_->WaitForInitialMetadata(); }
  grpc::Status Finish() override { return reader_->Finish(); }

 private:
  Keep keep_;  // destroyed after reader_
  std::unique_ptr<grpc::ClientReaderInterface<Resp>> reader_;
};

template <typename Resp, typename Keep>
std::unique_ptr<grpc::ClientReaderInterface<Resp>> keeping(
    Keep keep, std::unique_ptr<grpc::ClientReaderInterface<Resp>> reader) {
  return std::make_unique<KeepingReader<Resp, Keep>>(std::move(keep), std::move(reader));
}

template <typename Req, typename Resp>
class WatchStream : public std::enable_shared_from_this<WatchStream<Req, Resp>> {
 public:
  struct Callbacks {
    std::function<void(Resp)> on_message;
    std::function<void(bool connected, const grpc::Status&)> on_state;  // optional
  };
  // Starts the call: e.g. stub->Get(ctx, req). Called for every attempt, so it may pick up a
  // channel with rotated credentials; `retry` is true after a broken stream (a fresh channel
  // then reconnects at once instead of waiting out the old one's backoff).
  using Starter = std::function<std::unique_ptr<grpc::ClientReaderInterface<Resp>>(
      grpc::ClientContext*, const Req&, bool retry)>;

  static std::shared_ptr<WatchStream> open(boost::asio::any_io_executor executor, Req request,
                                           Starter starter, Callbacks callbacks) {
    auto w = std::shared_ptr<WatchStream>(
        new WatchStream(executor, std::move(request), std::move(starter), std::move(callbacks)));
    w->thread_ = std::thread([raw = w.get()] { raw->loop(); });
    return w;
  }

  ~WatchStream() { close(); }

  // Stops for good and waits for the reading thread: nothing is posted to the executor after
  // close() returns (so the executor may be destroyed), and no callback runs after it on the
  // executor's thread. Call it from the executor's thread.
  void close() {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      if (context_ != nullptr) context_->TryCancel();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  bool connected() const { return connected_; }

 private:
  WatchStream(boost::asio::any_io_executor ex, Req req, Starter starter, Callbacks cb)
      : executor_(ex),
        request_(std::move(req)),
        starter_(std::move(starter)),
        callbacks_(std::move(cb)) {}

  template <typename F>
  void post(F f) {
    std::lock_guard lock(mu_);
    if (closed_) return;
    boost::asio::post(executor_, [weak = this->weak_from_this(), f = std::move(f)]() mutable {
      auto w = weak.lock();
      if (w && !w->closed_flag()) f(*w);
    });
  }

  bool closed_flag() {
    std::lock_guard lock(mu_);
    return closed_;
  }

  void loop() {
    auto backoff = kMinBackoff;
    bool retry = false;
    while (true) {
      grpc::ClientContext ctx;
      {
        std::lock_guard lock(mu_);
        if (closed_) return;
        context_ = &ctx;
      }
      auto reader = starter_(&ctx, request_, retry);
      retry = true;
      Resp msg;
      bool first = true;
      while (reader->Read(&msg)) {
        if (first) {
          first = false;
          backoff = kMinBackoff;
          post([](WatchStream& w) { w.set_connected(true, grpc::Status::OK); });
        }
        post([m = std::move(msg)](WatchStream& w) mutable {
          if (w.callbacks_.on_message) w.callbacks_.on_message(std::move(m));
        });
        msg = Resp();
      }
      grpc::Status status = reader->Finish();
      post([status](WatchStream& w) { w.set_connected(false, status); });
      std::unique_lock lock(mu_);
      context_ = nullptr;
      if (cv_.wait_for(lock, backoff, [this] { return closed_; })) return;
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  }

  void set_connected(bool c, const grpc::Status& s) {
    if (c == connected_) return;
    connected_ = c;
    if (callbacks_.on_state) callbacks_.on_state(c, s);
  }

  static constexpr std::chrono::milliseconds kMinBackoff{100};
  static constexpr std::chrono::milliseconds kMaxBackoff{3000};

  boost::asio::any_io_executor executor_;
  const Req request_;
  Starter starter_;
  Callbacks callbacks_;
  std::mutex mu_;
  std::condition_variable cv_;
  grpc::ClientContext* context_ = nullptr;
  bool closed_ = false;
  bool connected_ = false;  // executor thread only
  std::thread thread_;
};

}  // namespace strait::controlplane
