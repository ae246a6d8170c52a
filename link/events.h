// The typed domain events of one link. The export stream, the repair timer, the probe worker
// and the Link poller each turn what they see into one of these; each has exactly one handler
// (LinkMirrors::on).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "topologies/mirror.h"

namespace strait::link {

// A service the target exports, new or changed: the whole service and its ready endpoints.
struct ServiceExported {
  topologies::RemoteService remote;
};
// The target stopped exporting it (label removed, deleted, no longer selected).
struct ServiceUnexported {
  std::string ns;
  std::string name;
};
// The target's initial state is complete: local mirrors not in it are orphans.
struct Synced {};
// The Link was deleted locally: every object this link owns goes.
struct LinkRemoved {};
// Periodic repair: the gateway names re-resolved to all their addresses; every mirror re-applied.
struct RepairEndpoints {
  std::vector<std::string> gateway_addresses;
};
// The probe worker saw the gateway die (past the failure threshold) or come back.
struct GatewayHealthChanged {
  bool alive = true;
};

// The export stream has been down past the Link's staleAfter (stale: the mirrors' endpoints
// become not ready), or it is back and synced (fresh again).
struct StaleChanged {
  bool stale = false;
  std::int64_t since_unix = 0;  // when the stream went down
};

using LinkEvent = std::variant<ServiceExported, ServiceUnexported, Synced, LinkRemoved,
                               RepairEndpoints, GatewayHealthChanged, StaleChanged>;

// The `event` label of link_events_total.
inline std::string_view event_name(const LinkEvent& e) {
  static constexpr std::string_view kNames[] = {
      "service_exported", "service_unexported", "synced", "link_removed",
      "repair_endpoints", "gateway_health",     "stale"};
  return kNames[e.index()];
}

}  // namespace strait::link
