// WatchStream<Req, Resp>: a server-streaming call to the controller that stays open. It
// reopens with backoff when it breaks (the controller restarted, the network blinked) and
// hands every message, and every connect/disconnect, to the caller's executor, so a
// single-threaded data plane sees them in order on its own thread. Callers keep what the
// stream told them while it is down: a cache that outlives the controller.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_callback.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

namespace strait::controlplane {

template <typename Req, typename Resp>
class WatchStream : public std::enable_shared_from_this<WatchStream<Req, Resp>> {
 public:
  struct Callbacks {
    std::function<void(Resp)> on_message;
    std::function<void(bool connected, const grpc::Status&)> on_state;  // optional
  };
  // Starts the call on a reactor: e.g. stub->async()->Get(ctx, req, reactor).
  using Starter = std::function<void(grpc::ClientContext*, const Req*, grpc::ClientReadReactor<Resp>*)>;
  // Returns the channel-bound starter to use now (credentials may have rotated).
  using StarterFactory = std::function<Starter()>;

  static std::shared_ptr<WatchStream> open(boost::asio::any_io_executor executor, Req request,
                                           StarterFactory factory, Callbacks callbacks) {
    auto w = std::shared_ptr<WatchStream>(
        new WatchStream(executor, std::move(request), std::move(factory), std::move(callbacks)));
    w->attempt();
    return w;
  }

  // Stops for good; callbacks may still be queued but none is called after close() returns on
  // the executor's thread.
  void close() {
    closed_ = true;
    retry_.cancel();
    if (ctl_) ctl_->cancel();
  }

  bool connected() const { return connected_; }

 private:
  // Shared between this object and a reactor that may outlive it.
  struct Control {
    std::mutex mu;
    grpc::ClientContext* context = nullptr;
    void cancel() {
      std::lock_guard lock(mu);
      if (context) context->TryCancel();
    }
  };

  class Reactor final : public grpc::ClientReadReactor<Resp> {
   public:
    Reactor(std::weak_ptr<WatchStream> owner, boost::asio::any_io_executor ex,
            std::shared_ptr<Control> ctl)
        : owner_(std::move(owner)), ex_(std::move(ex)), ctl_(std::move(ctl)) {
      context_.set_wait_for_ready(false);
      std::lock_guard lock(ctl_->mu);
      ctl_->context = &context_;
    }
    void go(const Starter& start, const Req& req) {
      request_ = req;
      start(&context_, &request_, this);
      this->StartRead(&msg_);
      this->StartCall();
    }
    void OnReadDone(bool ok) override {
      if (!ok) return;  // OnDone follows
      if (first_) {
        first_ = false;
        post([](WatchStream& w) { w.set_connected(true, grpc::Status::OK); });
      }
      post([m = std::move(msg_)](WatchStream& w) mutable {
        if (!w.closed_ && w.callbacks_.on_message) w.callbacks_.on_message(std::move(m));
      });
      msg_ = Resp();
      this->StartRead(&msg_);
    }
    void OnDone(const grpc::Status& status) override {
      {
        std::lock_guard lock(ctl_->mu);
        ctl_->context = nullptr;
      }
      post([status](WatchStream& w) { w.ended(status); });
      delete this;
    }

   private:
    template <typename F>
    void post(F f) {
      boost::asio::post(ex_, [owner = owner_, f = std::move(f)]() mutable {
        if (auto w = owner.lock()) f(*w);
      });
    }
    std::weak_ptr<WatchStream> owner_;
    boost::asio::any_io_executor ex_;
    std::shared_ptr<Control> ctl_;
    grpc::ClientContext context_;
    Req request_;
    Resp msg_;
    bool first_ = true;
  };

  WatchStream(boost::asio::any_io_executor ex, Req req, StarterFactory factory, Callbacks cb)
      : executor_(ex), request_(std::move(req)), factory_(std::move(factory)),
        callbacks_(std::move(cb)), retry_(ex) {}

  void attempt() {
    if (closed_) return;
    ctl_ = std::make_shared<Control>();
    auto* r = new Reactor(this->weak_from_this(), executor_, ctl_);
    r->go(factory_(), request_);
  }

  void set_connected(bool c, const grpc::Status& s) {
    if (c == connected_) return;
    connected_ = c;
    if (c) backoff_ = kMinBackoff;
    if (!closed_ && callbacks_.on_state) callbacks_.on_state(c, s);
  }

  void ended(const grpc::Status& status) {
    set_connected(false, status);
    if (closed_) return;
    retry_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    retry_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->attempt();
    });
  }

  static constexpr std::chrono::milliseconds kMinBackoff{100};
  static constexpr std::chrono::milliseconds kMaxBackoff{3000};

  boost::asio::any_io_executor executor_;
  Req request_;
  StarterFactory factory_;
  Callbacks callbacks_;
  boost::asio::steady_timer retry_;
  std::shared_ptr<Control> ctl_;
  std::chrono::milliseconds backoff_ = kMinBackoff;
  bool connected_ = false;
  bool closed_ = false;
};

}  // namespace strait::controlplane
