// EventQueue: the events of one link on their way from the I/O thread to the store thread.
// Thread-safe (one mutex, held only to push or pop), bounded, and coalescing: the newest work
// per key wins, so a stalled store costs one entry per service rather than one per message.
//  - a service's ServiceExported/ServiceUnexported replace the pending one of that service in
//    place (the earliest position: a later Synced still finds the service reconciled first);
//  - Synced replaces the pending one and moves to the end (its GC must see every service queued
//    before it); RepairEndpoints, GatewayHealthChanged and LinkUpdated replace theirs in place;
//  - LinkRemoved is always queued.
// Full (max_services distinct services pending): a new service's event is dropped and counted;
// once the queue has drained, take_overflow() says so and the link resyncs (it reopens the
// export stream, whose snapshot and Synced restore what was dropped).
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "core/discovery/model.h"
#include "link/events.h"

namespace strait::link {

// The Link's spec changed (selectors, gateways, ...): every mirror is re-shaped.
struct LinkUpdated {
  discovery::Link link;
};
using LinkWork = std::variant<LinkEvent, LinkUpdated>;

class EventQueue {
 public:
  explicit EventQueue(std::size_t max_services) : max_services_(max_services) {}

  enum class Outcome { kQueued, kCoalesced, kDropped };
  struct Pushed {
    Outcome outcome;
    bool schedule;  // nothing was draining: the caller posts a drain
  };
  Pushed push(LinkWork work);
  // The next work, or nullopt when empty (the drain then ends: the next push schedules one).
  std::optional<LinkWork> pop();
  // True once after events were dropped since the last call.
  bool take_overflow();
  std::size_t size() const;

  // "service/<ns>/<name>", "synced", "repair", "gateway", "link", "" (LinkRemoved: no key).
  static std::string key_of(const LinkWork& work);

 private:
  struct Entry {
    std::string key;
    LinkWork work;
  };
  const std::size_t max_services_;
  mutable std::mutex mu_;
  std::list<Entry> items_;
  std::map<std::string, std::list<Entry>::iterator> by_key_;
  std::size_t services_ = 0;  // entries with a service key
  bool draining_ = false;
  bool overflowed_ = false;
};

}  // namespace strait::link
