// DnsServer: strait-controller's DNS, on UDP and TCP at each listen address. Answers the
// cluster's zones from a ZoneIndex; forwards other names for clients of the recursion networks
// to the upstreams (Forwarder), refuses them for everyone else. Limits: strict parsing
// (FORMERR / NOTIMP / REFUSED, never a crash), response-rate limiting per source on UDP, a cap
// on TCP connections and an idle deadline on each, a bound on forwarded queries in flight.
// Every refusal is logged (at most once a second per reason) and counted in
// dns_refused_total{reason}. Its own I/O thread; stop() ends it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "controlplane/dns/dns_settings.h"
#include "controlplane/dns/zone_index.h"
#include "core/base/result.h"
#include "core/metrics/metrics.h"

namespace strait::controlplane::dns {

class DnsServer {
 public:
  virtual ~DnsServer() = default;
  // Binds every listen address (UDP and TCP on the same port) and serves.
  static Result<std::unique_ptr<DnsServer>> start(const DnsSettings& settings,
                                                  const ZoneIndex& zones,
                                                  metrics::Registry& registry);
  // The port bound for each listen address, in order.
  virtual std::vector<std::uint16_t> ports() const = 0;
  virtual void stop() = 0;  // idempotent; the destructor calls it
};

}  // namespace strait::controlplane::dns
