// RateLimiter: token buckets per source address.
#include "controlplane/dns/rate_limiter.h"

#include <algorithm>

namespace strait::controlplane::dns {

RateLimiter::Verdict RateLimiter::check(const std::string& source, Clock::time_point now) {
  if (rate_ == 0) return Verdict::kAllow;
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    // Bounded memory under a flood of spoofed sources: buckets refilled to full are forgotten.
    if (buckets_.size() >= max_sources_) {
      std::erase_if(buckets_, [&](const auto& kv) {
        return now - kv.second.last >= std::chrono::seconds(1);
      });
      if (buckets_.size() >= max_sources_) buckets_.clear();
    }
    it = buckets_.emplace(source, Bucket{static_cast<double>(rate_), now, 0}).first;
  }
  Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min<double>(rate_, b.tokens + elapsed * rate_);
  b.last = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    b.over = 0;
    return Verdict::kAllow;
  }
  return (b.over++ % 2 == 0) ? Verdict::kSlip : Verdict::kDrop;
}

}  // namespace strait::controlplane::dns
