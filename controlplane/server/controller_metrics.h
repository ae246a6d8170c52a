// Every metric strait-controller exports, declared once.
#pragma once

#include "core/metrics/metrics.h"

namespace strait::controlplane {

struct ControllerMetrics {
  explicit ControllerMetrics(metrics::Registry& r)
      : streams_open(r.gauge("controller_streams_open", "Open gRPC streams, by API.", {"api"})),
        stream_overflows(r.counter("controller_stream_overflows_total",
                                   "Subscribers cut off because they stopped reading.", {"api"})),
        certs_issued(
            r.counter("identity_certificates_issued_total", "Workload certificates issued.", {})),
        certs_refused(r.counter("identity_certificates_refused_total",
                                "Certificate requests refused, by reason.", {"reason"})),
        cert_expiry(r.gauge("identity_ca_expiration_timestamp_seconds",
                            "Expiry of the trust anchor and the issuer (unix seconds).", {"ca"})),
        store_objects(
            r.gauge("store_objects", "Objects in the discovery store, by kind.", {"kind"})),
        store_version(r.gauge("store_version", "The discovery store's current version.", {})),
        leases(
            r.gauge("registration_leases", "Workload endpoints held by registration streams.", {})),
        registrations_refused(r.counter("registration_refused_total",
                                        "Registrations refused, by reason.", {"reason"})),
        admin_refused(r.counter("admin_api_refused_total", "Admin API calls refused, by reason.",
                                {"reason"})),
        exports_refused(r.counter("export_api_refused_total",
                                  "Export API watches refused, by reason.", {"reason"})),
        calls_refused(r.counter("controller_calls_refused_total",
                                "gRPC calls refused before reaching a service (client "
                                "certificate not from this cluster's issuer), by listener.",
                                {"listener", "reason"})),
        listener_connections(r.gauge("controller_listener_connections",
                                     "Established TCP connections on each listener, with or "
                                     "without a finished handshake.",
                                     {"listener"})) {}

  metrics::GaugeFamily& streams_open;
  metrics::CounterFamily& stream_overflows;
  metrics::CounterFamily& certs_issued;
  metrics::CounterFamily& certs_refused;
  metrics::GaugeFamily& cert_expiry;
  metrics::GaugeFamily& store_objects;
  metrics::GaugeFamily& store_version;
  metrics::GaugeFamily& leases;
  metrics::CounterFamily& registrations_refused;
  metrics::CounterFamily& admin_refused;
  metrics::CounterFamily& exports_refused;
  metrics::CounterFamily& calls_refused;
  metrics::GaugeFamily& listener_connections;
};

}  // namespace strait::controlplane
