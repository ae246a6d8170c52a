// DestinationCache: one destination stream per target (ip:port or authority), shared by every
// connection to it and closed after it idles. What a stream last said stays usable while the
// controller is away. Each target's ready endpoints feed its Balancer (balancer.h), which
// chooses among them. Lives on the proxy's single I/O thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "controlplane/client/watch_stream.h"
#include "sidecar/proxy/balancer.h"
#include "core/base/result.h"
#include "strait/destination.grpc.pb.h"

namespace strait::proxy {

// What a target resolves to right now.
struct Resolution {
  bool meshed = false;  // the controller knows the target (a service or an endpoint)
  std::map<std::string, std::string> labels;  // dst_* labels: namespace, service, cluster
};

class DestinationCache {
 public:
  using Stub = destination::v1::Destination::StubInterface;
  // Returns a stub on the current channel (credentials rotate); `fresh`: after a broken stream.
  using StubFactory =
      std::function<std::shared_ptr<destination::v1::Destination::Stub>(bool fresh)>;
  struct Settings {
    std::chrono::milliseconds idle_timeout{60'000};
    std::function<void(bool connected)> on_stream_state;  // metrics
    Balancer::Settings balancer;
    // Callers waiting at once for a target to get a ready endpoint (the fail-fast queue); one
    // more is refused at once (queue_full) instead of joining an unbounded wait.
    std::size_t max_waiters = 1000;
    std::function<void(int delta)> on_waiting;  // metrics: callers waiting, +1 / -1
  };

  DestinationCache(boost::asio::io_context& io, StubFactory stubs, Settings settings);
  ~DestinationCache();

  class Entry;
  // A connection's hold on a target: keeps the stream open while held.
  class Lease {
   public:
    Lease() = default;
    explicit Lease(std::shared_ptr<Entry> e);
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) noexcept = default;
    ~Lease();
    Entry* operator->() const { return entry_.get(); }
    explicit operator bool() const { return entry_ != nullptr; }

   private:
    std::shared_ptr<Entry> entry_;
  };

  // Waits until the target's first answer (or a cached one), up to `deadline`.
  // Errors: destination_unavailable (no answer in time).
  boost::asio::awaitable<Result<Lease>> resolve(std::string path,
                                                std::chrono::steady_clock::time_point deadline);

  std::size_t size() const { return entries_.size(); }

  class Entry {
   public:
    bool answered() const { return answered_; }
    bool exists() const { return exists_; }
    // The service exists but does not declare this port: refuse at once, nothing will serve it.
    bool undeclared_port() const { return undeclared_port_; }
    bool has_endpoints() const { return !endpoints_.empty(); }
    // The Service port is marked opaque (its endpoints carry the hint): never inspect it.
    bool opaque() const;
    const std::map<std::string, std::string>& labels() const { return labels_; }
    enum class Wait { kReady, kTimeout, kQueueFull };
    // Waits until there is a ready endpoint, up to deadline; kQueueFull at once when
    // max_waiters callers are waiting already.
    boost::asio::awaitable<Wait> wait_for_endpoints(std::chrono::steady_clock::time_point deadline);
    std::size_t waiting() const { return waiters_.size(); }
    // The balancer's choice among the ready endpoints (a copy, with its in-flight hold);
    // nullopt when there is none.
    std::optional<Pick> pick(std::minstd_rand& rng) const { return balancer_.pick(rng); }
    const Balancer& balancer() const { return balancer_; }

   private:
    friend class DestinationCache;
    friend class Lease;
    Entry(boost::asio::io_context& io, Balancer::Settings b, std::size_t max_waiters,
          std::function<void(int)> on_waiting)
        : io_(io), balancer_(b), max_waiters_(max_waiters), on_waiting_(std::move(on_waiting)) {}
    void apply(const destination::v1::Update& u);
    void wake();
    boost::asio::awaitable<bool> wait_change(std::chrono::steady_clock::time_point deadline);

    boost::asio::io_context& io_;
    std::string path_;
    bool answered_ = false;
    bool exists_ = false;
    bool undeclared_port_ = false;
    std::map<std::string, destination::v1::WeightedAddr> endpoints_;  // ready, by "ip:port"
    Balancer balancer_;
    std::map<std::string, std::string> labels_;
    std::list<boost::asio::steady_timer*> waiters_;
    std::size_t max_waiters_;
    std::function<void(int)> on_waiting_;
    int holders_ = 0;
    std::chrono::steady_clock::time_point last_used_;
    std::shared_ptr<
        controlplane::WatchStream<destination::v1::GetDestination, destination::v1::Update>>
        stream_;
  };

 private:
  void sweep();

  boost::asio::io_context& io_;
  StubFactory stubs_;
  Settings settings_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  boost::asio::steady_timer sweeper_;
};

}  // namespace strait::proxy
