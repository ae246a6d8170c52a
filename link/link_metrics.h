// Every metric strait-link exports, declared in one place.
#pragma once

#include "core/metrics/metrics.h"

namespace strait::link {

struct LinkMetrics {
  explicit LinkMetrics(metrics::Registry& r)
      : gateway_alive(r.gauge("gateway_alive",
                              "1 while the target cluster's gateway passes its probes.",
                              {"target_cluster"})),
        probe_latency(r.histogram("gateway_probe_latency_ms",
                                  "Latency of successful gateway probes (ms).", {"target_cluster"},
                                  {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000})),
        probes(r.counter("gateway_probes_total",
                         "Gateway probes by result (success or an error code).",
                         {"target_cluster", "result"})),
        mirrors(
            r.gauge("link_mirrors", "Mirrored services written by a link.", {"target_cluster"})),
        events(r.counter("link_events_total", "Link events handled, by type.",
                         {"target_cluster", "event"})),
        retries(r.counter("link_retries_total",
                          "Failed retries of link work, by outcome (retrying, gave_up).",
                          {"target_cluster", "outcome"})),
        credentials(r.counter("link_credentials_total",
                              "Link credential exchanges and renewals, by result.",
                              {"target_cluster", "result"})),
        credential_expiry(r.gauge("link_credential_expiration_timestamp_seconds",
                                  "When the link's client certificate expires.",
                                  {"target_cluster"})),
        stream_connected(r.gauge("link_export_connected",
                                 "1 while the export stream to the target is open.",
                                 {"target_cluster"})),
        last_sync(r.gauge("link_last_sync_seconds",
                          "Unix time at which the link was last known current: its export "
                          "stream synced and delivering (frozen while the stream is down).",
                          {"target_cluster"})),
        events_dropped(
            r.counter("link_events_dropped_total",
                      "Link events not handled as such: replaced by a newer one of the same key "
                      "(coalesced) or refused by a full queue (queue_full, followed by a resync).",
                      {"target_cluster", "reason"})),
        events_queued(r.gauge("link_events_queued", "Link events waiting for the store thread.",
                              {"target_cluster"})) {}

  metrics::GaugeFamily& gateway_alive;
  metrics::HistogramFamily& probe_latency;
  metrics::CounterFamily& probes;
  metrics::GaugeFamily& mirrors;
  metrics::CounterFamily& events;
  metrics::CounterFamily& retries;
  metrics::CounterFamily& credentials;
  metrics::GaugeFamily& credential_expiry;
  metrics::GaugeFamily& stream_connected;
  metrics::GaugeFamily& last_sync;
  metrics::CounterFamily& events_dropped;
  metrics::GaugeFamily& events_queued;
};

}  // namespace strait::link
