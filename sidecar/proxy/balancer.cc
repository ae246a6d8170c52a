// Balancer: peak-EWMA costs and the power-of-two-choices pick.
#include "sidecar/proxy/balancer.h"

#include <algorithm>
#include <cmath>

namespace strait::proxy {
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kDefaultWeight = 10000;
constexpr double kTie = 0.05;  // relative cost difference below which two endpoints are equal

// The estimate at `now`: a latency peak decays toward `rtt` (0 when only time passes) with
// weight exp(-elapsed/decay); a higher latency replaces it at once.
void fold(EndpointLoad& l, double rtt_ns, Clock::time_point now, std::chrono::nanoseconds decay) {
  const double elapsed = std::chrono::duration<double, std::nano>(now - l.stamp).count();
  if (rtt_ns > l.ewma_ns) {
    l.ewma_ns = rtt_ns;
  } else {
    const double keep = std::exp(-std::max(0.0, elapsed) / static_cast<double>(decay.count()));
    l.ewma_ns = l.ewma_ns * keep + rtt_ns * (1 - keep);
  }
  l.stamp = now;
}

}  // namespace

InFlight::InFlight(std::shared_ptr<EndpointLoad> load, std::chrono::nanoseconds decay)
    : load_(std::move(load)), decay_(decay) {
  if (load_) ++load_->pending;
}

InFlight& InFlight::operator=(InFlight&& o) noexcept {
  if (this != &o) {
    if (load_) --load_->pending;
    load_ = std::move(o.load_);
    decay_ = o.decay_;
  }
  return *this;
}

InFlight::~InFlight() {
  if (load_) --load_->pending;
}

void InFlight::observe(std::chrono::nanoseconds latency) {
  if (!load_) return;
  fold(*load_, static_cast<double>(latency.count()), Clock::now(), decay_);
}

void Balancer::update(const std::map<std::string, destination::v1::WeightedAddr>& endpoints) {
  std::vector<Slot> next;
  next.reserve(endpoints.size());
  const auto now = Clock::now();
  auto old = slots_.begin();
  for (const auto& [key, addr] : endpoints) {
    while (old != slots_.end() && old->key < key) ++old;
    Slot s{key, addr, std::max(1.0, static_cast<double>(addr.weight())) / kDefaultWeight, nullptr};
    if (addr.weight() == 0) s.weight = 1e-6;  // weight 0: chosen only when nothing else is
    if (old != slots_.end() && old->key == key) {
      s.load = old->load;  // same endpoint: it keeps what it learned
    } else {
      s.load = std::make_shared<EndpointLoad>();
      s.load->ewma_ns = std::chrono::duration<double, std::nano>(settings_.default_rtt).count();
      s.load->stamp = now;
    }
    next.push_back(std::move(s));
  }
  slots_ = std::move(next);
}

double Balancer::cost(const Slot& s) const {
  // Decay the estimate to now without changing it: the cost of an idle endpoint falls over time,
  // so a slow one gets tried again.
  EndpointLoad l = *s.load;
  fold(l, 0, Clock::now(), settings_.decay);
  return l.ewma_ns * (l.pending + 1) / s.weight;
}

double Balancer::cost(const std::string& key) const {
  for (const auto& s : slots_) {
    if (s.key == key) return cost(s);
  }
  return -1;
}

std::optional<Pick> Balancer::pick(std::minstd_rand& rng) const {
  if (slots_.empty()) return std::nullopt;
  const Slot* chosen = &slots_.front();
  if (slots_.size() > 1) {
    std::uniform_int_distribution<std::size_t> d(0, slots_.size() - 1);
    const std::size_t a = d(rng);
    std::size_t b = d(rng);
    if (a == b) b = (a + 1 + d(rng) % (slots_.size() - 1)) % slots_.size();
    // The first candidate is a uniform random draw: it keeps the pick unless the second is
    // clearly cheaper. Costs within kTie of each other are equal — otherwise microsecond noise
    // in estimates still dominated by the default RTT (every endpoint, for the first tens of
    // seconds) would decide, and one endpoint could lose every comparison for that long.
    const double ca = cost(slots_[a]);
    const double cb = cost(slots_[b]);
    chosen = cb < ca * (1 - kTie) ? &slots_[b] : &slots_[a];
  }
  return Pick{chosen->key, chosen->addr, InFlight(chosen->load, settings_.decay)};
}

}  // namespace strait::proxy
