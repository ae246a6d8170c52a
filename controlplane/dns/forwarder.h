// Forwarder: queries for names outside the cluster's zones, sent to the upstream resolvers over
// c-ares (raw messages: ares_send), with a cache, a deadline per query and a bound on the queries
// in flight. Single-threaded: every call and every callback on the executor given to create().
//
// c-ares runs on that executor too: its sockets are watched with Asio (no thread of its own, no
// poll loop). The upstream's answer goes back as the upstream sent it, with the client's ID;
// SERVFAIL and REFUSED pass through. Answers are cached (NOERROR and NXDOMAIN, not truncated)
// under the question (lowercased name, type, class) and whether the query had EDNS / the DO bit,
// for their lowest TTL capped at max_cache_ttl (negative answers: the SOA's minimum, or
// negative_ttl without a SOA).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/base/result.h"

namespace strait::controlplane::dns {

class Forwarder {
 public:
  struct Settings {
    std::vector<std::string> upstreams;       // "198.18.1.5", "198.18.1.5:5353", "[::1]:53"
    std::chrono::milliseconds timeout{2000};  // a query's whole deadline (all tries)
    std::size_t max_outstanding = 1000;       // in flight upstream; beyond: kOverloaded at once
    std::size_t cache_entries = 10000;        // LRU; 0 = no cache
    std::chrono::seconds max_cache_ttl{300};  // cap on a cached positive answer
    std::chrono::seconds negative_ttl{30};    // NXDOMAIN/NODATA without SOA minimum: this
  };
  enum class Outcome { kAnswered, kCached, kTimeout, kOverloaded, kFailed };
  using Done = std::function<void(Outcome, std::vector<std::uint8_t> response)>;

  // Errors (code invalid_field): no upstream, an upstream that is not an IP literal with an
  // optional port 1..65535, a zero timeout or max_outstanding. dns_failed: c-ares refused to
  // start.
  static Result<std::unique_ptr<Forwarder>> create(boost::asio::any_io_executor ex, Settings s);
  ~Forwarder();  // pending queries end; their Done is NOT called after destruction begins

  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // query: one DNS message as the client sent it (a single question). done runs later on the
  // executor (never inside forward()), exactly once, with the response to send back: the
  // upstream's (or the cached) message with the query's ID (kAnswered / kCached; cached TTLs
  // reduced by the time spent in the cache); for the other outcomes an empty vector.
  // The query is copied: its bytes may be reused as soon as forward() returns.
  void forward(std::span<const std::uint8_t> query, Done done);

  // Queries sent upstream whose c-ares query has not ended yet (one whose deadline passed stays
  // counted until c-ares gives up on it, which it does near that same deadline).
  std::size_t outstanding() const;
  std::size_t cached() const;  // entries in the cache (some may have expired, unused since)

 private:
  struct State;  // the c-ares channel, its sockets, the queries in flight, the cache
  explicit Forwarder(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace strait::controlplane::dns
