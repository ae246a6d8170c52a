// Balancer: which endpoint of one target serves the next request or connection. Power of two
// choices over each endpoint's cost = peak-EWMA latency x (pending + 1) / weight (the reference
// proxy's balancer: an endpoint that slows down or piles up work is chosen less, at once; a
// fast one recovers as its latency decays back). Fed with the ready endpoints the destination
// stream delivers; an endpoint keeps its load while it stays in the set, and forgets it when it
// leaves. Picks are copies: a destination update during a dial frees nothing the dial uses.
// Lives on the proxy's one I/O thread, like the cache that owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "strait/destination.pb.h"

namespace strait::proxy {

// The load of one endpoint, shared by the balancer and the requests in flight to it (which
// may outlive its place in the balancer).
struct EndpointLoad {
  double ewma_ns = 0;  // peak EWMA of observed latencies
  std::chrono::steady_clock::time_point stamp;
  int pending = 0;
};

// One request's (or connection's) hold on an endpoint: pending while it lives; observe() feeds
// the latency it saw.
class InFlight {
 public:
  InFlight() = default;
  InFlight(std::shared_ptr<EndpointLoad> load, std::chrono::nanoseconds decay);
  InFlight(InFlight&& o) noexcept = default;
  InFlight& operator=(InFlight&& o) noexcept;
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  ~InFlight();

  void observe(std::chrono::nanoseconds latency);

 private:
  std::shared_ptr<EndpointLoad> load_;
  std::chrono::nanoseconds decay_{};
};

struct Pick {
  std::string key;  // "ip:port"
  destination::v1::WeightedAddr addr;
  InFlight in_flight;
};

class Balancer {
 public:
  struct Settings {
    std::chrono::milliseconds default_rtt{30};  // a new endpoint's latency before it is measured
    std::chrono::milliseconds decay{10'000};    // how fast a latency peak is forgotten
  };
  Balancer() = default;
  explicit Balancer(Settings settings) : settings_(settings) {}

  // The ready endpoints now, by "ip:port".
  void update(const std::map<std::string, destination::v1::WeightedAddr>& endpoints);
  bool empty() const { return slots_.empty(); }
  std::size_t size() const { return slots_.size(); }

  // Two distinct endpoints at random, the cheaper of them (cost divided by the endpoint's
  // weight relative to the default 10000; costs within 5 % of each other count as equal and
  // the first draw wins); nullopt when empty.
  std::optional<Pick> pick(std::minstd_rand& rng) const;
  // The cost the balancer compares (for tests and debugging); -1 for an unknown key.
  double cost(const std::string& key) const;

 private:
  struct Slot {
    std::string key;
    destination::v1::WeightedAddr addr;
    double weight = 1;
    std::shared_ptr<EndpointLoad> load;
  };
  double cost(const Slot& s) const;

  Settings settings_;
  std::vector<Slot> slots_;  // sorted by key
};

}  // namespace strait::proxy
