// `straitctl multicluster check`: the checks of one link, each a named result (ok, fail or skip
// with a detail). The names are stable (scripts match them): link-valid, link-service,
// credentials, trust-bundle, export-stream, gateway-reachable, gateway-probes, mirrors,
// service-imports.
// Everything but gateway-reachable reads a LinkView; gateway-reachable probes the gateway from
// here (GatewayProber, replaceable in tests).
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/multicluster_view.h"
#include "core/base/result.h"
#include "core/discovery/model.h"

namespace strait::cli {

enum class Outcome { kOk, kFail, kSkip };
std::string_view outcome_name(Outcome outcome);  // "ok", "fail", "skip"

struct CheckResult {
  std::string cluster;  // the Link's target cluster
  std::string check;
  Outcome outcome = Outcome::kOk;
  std::string detail;
};

// The probe the strait-link probe worker makes, made once from here: every gateway address
// (names resolved), probe.port, GET probe.path over TLS 1.3, the server verified against the
// Link's roots (scoped to its trust domain) and required to be gatewayIdentity, within
// probe.timeout; no client certificate. Ok (with what answered, and how fast) when one address
// answers 2xx; the error lists why each failed.
using GatewayProber = std::function<Result<std::string>(const discovery::Link&)>;
Result<std::string> probe_gateway(const discovery::Link& link);

// Every check of one link, in the order above. Gateway checks are skipped for a flat-only Link
// (no gateway addresses); the checks that read strait-link's status are skipped when there is
// none (link-service fails then).
std::vector<CheckResult> check_link(const LinkView& view, const MulticlusterView& all,
                                    const GatewayProber& prober,
                                    std::chrono::system_clock::time_point now);

// The single checks.
CheckResult check_link_valid(const discovery::Link& link);
CheckResult check_link_service(const LinkView& view, const MulticlusterView& all);
// Fails when the credential is missing or expired, or when less than 1 h or less than 10 % of
// its lifetime is left (the detail says which).
CheckResult check_credentials(const std::string& cluster, const boost::json::object& status,
                              std::chrono::system_clock::time_point now);
// The bundle parses, no root has expired (or is not yet valid), and the gateway identity is in
// the Link's trust domain (the only one its roots are trusted for).
CheckResult check_trust_bundle(const discovery::Link& link,
                               std::chrono::system_clock::time_point now);
CheckResult check_export_stream(const std::string& cluster, const boost::json::object& status);

// A link's export stream as strait-link reports it: "current" (connected and synced), "down"
// (its mirrors served as last seen until staleAfter), "stale" (past it: their endpoints not
// ready), or "unknown" (no status); text for a table ("down 42s", "stale 6m").
struct ExportState {
  std::string name;
  std::string text;
  std::optional<std::int64_t> down_since_unix;
};
ExportState export_state_of(const boost::json::object* status,
                            std::chrono::system_clock::time_point now);
CheckResult check_gateway_reachable(const discovery::Link& link, const GatewayProber& prober);
// strait-link's probe worker holds the gateway alive and its last probe succeeded.
CheckResult check_gateway_probes(const std::string& cluster, const boost::json::object& status);
// Every mirror service owned by the link has at least one ready endpoint.
CheckResult check_mirrors(const LinkView& view);
// No ServiceImport this cluster exports into records a conflict (a port name declared
// differently by two clusters).
CheckResult check_service_imports(const LinkView& view);

}  // namespace strait::cli
