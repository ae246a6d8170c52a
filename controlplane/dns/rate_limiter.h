// RateLimiter: response-rate limiting per source address, so that the DNS server cannot be used
// to amplify traffic towards a spoofed victim. A token bucket per source (rate per second,
// burst of one second); past it every second response "slips" as an empty truncated answer
// (a real client retries over TCP, which cannot be spoofed) and the others are dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace strait::controlplane::dns {

class RateLimiter {
 public:
  enum class Verdict { kAllow, kSlip, kDrop };
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(std::uint32_t per_second, std::size_t max_sources = 100'000)
      : rate_(per_second), max_sources_(max_sources) {}

  Verdict check(const std::string& source, Clock::time_point now = Clock::now());
  std::size_t sources() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last;
    std::uint32_t over = 0;  // responses refused since the bucket ran dry
  };
  const std::uint32_t rate_;
  const std::size_t max_sources_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace strait::controlplane::dns
