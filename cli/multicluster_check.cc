// The checks of `straitctl multicluster check`.
#include "cli/multicluster_check.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "cli/format.h"
#include "core/discovery/manifest.h"
#include "core/identity/spiffe_id.h"
#include "core/tls/certificate.h"
#include "core/tls/tls_context.h"
#include "core/tls/trust_bundle.h"
#include "link/gateway_probe.h"
#include "link/resolver.h"

namespace strait::cli {
namespace asio = boost::asio;
using Clock = std::chrono::system_clock;

namespace {

constexpr auto kResolveTimeout = std::chrono::seconds(2);
constexpr auto kNearExpiryLeft = std::chrono::hours(1);

CheckResult ok(const std::string& cluster, const char* check, std::string detail = "") {
  return {cluster, check, Outcome::kOk, std::move(detail)};
}
CheckResult failed(const std::string& cluster, const char* check, std::string detail) {
  return {cluster, check, Outcome::kFail, std::move(detail)};
}
CheckResult skipped(const std::string& cluster, const char* check, std::string detail) {
  return {cluster, check, Outcome::kSkip, std::move(detail)};
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

Clock::time_point from_unix(double seconds) {
  return Clock::time_point(std::chrono::seconds(static_cast<std::int64_t>(seconds)));
}

asio::awaitable<void> probe_into(link::ProbeRequest request,
                                 std::optional<Result<std::chrono::microseconds>>* out) {
  out->emplace(co_await link::probe_once(std::move(request)));
}

}  // namespace

std::string_view outcome_name(Outcome outcome) {
  static constexpr std::string_view kNames[] = {"ok", "fail", "skip"};  // in enum order
  return kNames[static_cast<std::size_t>(outcome)];
}

Result<std::string> probe_gateway(const discovery::Link& link) {
  tls::TrustBundle bundle;
  if (auto r = bundle.add_pem(link.trust_bundle_pem, link.target_trust_domain); !r) {
    return make_error("bad_trust_bundle", "the Link's trust bundle: " + r.error().message);
  }
  auto context = tls::make_client_context(nullptr, bundle);
  if (!context) return context.error();
  std::vector<Error> errors;
  const auto addresses = link::resolve_gateways(link.gateway_addresses, kResolveTimeout, &errors);
  std::vector<std::optional<Result<std::chrono::microseconds>>> results(addresses.size());
  asio::io_context io;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    link::ProbeRequest req{addresses[i],          link.probe.port, link.probe.path,
                           link.gateway_identity, *context,        link.probe.timeout};
    asio::co_spawn(io, probe_into(std::move(req), &results[i]), asio::detached);
  }
  io.run();  // each probe ends by its own deadline
  std::vector<std::string> answered, refused;
  for (const auto& e : errors) refused.push_back(e.message);
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    const std::string where = addresses[i] + ":" + std::to_string(link.probe.port);
    if (!results[i]) {
      refused.push_back(where + ": no result");
    } else if (!*results[i]) {
      refused.push_back(results[i]->error().message);
    } else {
      answered.push_back(
          where + " answered " + link.probe.path + " in " +
          format_ms(std::chrono::duration<double, std::milli>(results[i]->value()).count()));
    }
  }
  if (answered.empty()) {
    if (refused.empty()) refused.push_back("no gateway address");
    return make_error("gateway_unreachable", join(refused, "; "));
  }
  std::string detail = join(answered, "; ");
  if (!refused.empty()) detail += "; but " + join(refused, "; ");
  return detail;
}

CheckResult check_link_valid(const discovery::Link& link) {
  const std::string& c = link.target_cluster;
  if (auto r = discovery::validate_object(discovery::Object(link)); !r) {
    return failed(c, "link-valid", r.error().message);
  }
  std::vector<std::string> missing;
  if (link.identity_address.empty()) missing.push_back("spec.identityAddress");
  if (link.trust_bundle_pem.empty()) missing.push_back("spec.trustBundle");
  if (!link.gateway_addresses.empty() && link.gateway_identity.empty())
    missing.push_back("spec.gatewayIdentity");
  if (!missing.empty()) return failed(c, "link-valid", join(missing, ", ") + ": required");
  return ok(c, "link-valid",
            link.meta.ns + "/" + link.meta.name +
                (link.gateway_addresses.empty() ? ", flat-only (no gateway addresses)"
                                                : ", gateway " + join(link.gateway_addresses, ",") +
                                                      ":" + std::to_string(link.gateway_port)));
}

CheckResult check_link_service(const LinkView& view, const MulticlusterView& all) {
  const std::string& c = view.link.target_cluster;
  if (all.link_service_error) return failed(c, "link-service", all.link_service_error->message);
  if (!view.status) {
    return failed(c, "link-service",
                  "strait-link at " + all.link_admin + " does not watch this Link (yet)");
  }
  return ok(c, "link-service", "strait-link at " + all.link_admin + " watches it");
}

CheckResult check_credentials(const std::string& cluster, const boost::json::object& status,
                              Clock::time_point now) {
  const char* name = "credentials";
  const auto error = json_string(status, "credentials.error").value_or("");
  const auto expires = json_number(status, "credentials.expires_unix");
  if (!json_bool(status, "credentials.valid").value_or(false) || !expires) {
    return failed(cluster, name,
                  "no valid link credential" + (error.empty() ? " yet" : ": " + error));
  }
  const auto expiry = from_unix(*expires);
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(expiry - now);
  if (left.count() <= 0) return failed(cluster, name, "expired at " + format_time(expiry));
  std::vector<std::string> near;
  if (left < kNearExpiryLeft) near.push_back("less than 1h left");
  if (auto nb = json_number(status, "credentials.not_before_unix")) {
    const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(expiry - from_unix(*nb));
    if (lifetime.count() > 0 && left * 10 < lifetime) {
      near.push_back("less than 10% of its " + human_duration(lifetime) + " lifetime left");
    }
  }
  std::string detail = "expires in " + human_duration(left);
  if (!near.empty()) {
    detail += ": " + join(near, " and ");
    if (!error.empty()) detail += "; renewal failing: " + error;
    return failed(cluster, name, detail);
  }
  if (auto id = json_string(status, "credentials.identity")) detail = *id + ", " + detail;
  if (!error.empty()) detail += "; last renewal failed: " + error;
  return ok(cluster, name, detail);
}

CheckResult check_trust_bundle(const discovery::Link& link, Clock::time_point now) {
  const std::string& c = link.target_cluster;
  const char* name = "trust-bundle";
  if (link.trust_bundle_pem.empty()) return failed(c, name, "the Link carries no trust bundle");
  tls::TrustBundle bundle;
  if (auto r = bundle.add_pem(link.trust_bundle_pem, link.target_trust_domain); !r) {
    return failed(c, name, "does not parse: " + r.error().message);
  }
  auto roots = tls::Certificate::chain_from_pem(link.trust_bundle_pem);
  if (!roots) return failed(c, name, "does not parse: " + roots.error().message);
  std::optional<Clock::time_point> first_expiry;
  for (const auto& root : *roots) {
    if (root.not_after() <= now) {
      return failed(c, name,
                    "root " + root.subject() + " expired at " + format_time(root.not_after()));
    }
    if (root.not_before() > now) {
      return failed(
          c, name,
          "root " + root.subject() + " not valid before " + format_time(root.not_before()));
    }
    if (!first_expiry || root.not_after() < *first_expiry) first_expiry = root.not_after();
  }
  std::string detail = std::to_string(roots->size()) + (roots->size() == 1 ? " root" : " roots") +
                       " for " + link.target_trust_domain + ", valid until " +
                       format_time(*first_expiry);
  if (!link.gateway_identity.empty()) {
    auto id = identity::SpiffeId::parse(link.gateway_identity);
    if (!id) return failed(c, name, "gateway identity: " + id.error().message);
    if (id->trust_domain() != link.target_trust_domain) {
      return failed(c, name,
                    "gateway identity " + link.gateway_identity + " is outside " +
                        link.target_trust_domain + ", the only trust domain the roots vouch for");
    }
    detail += "; vouches for the gateway identity";
  }
  return ok(c, name, detail);
}

ExportState export_state_of(const boost::json::object* status, Clock::time_point now) {
  if (!status) return {"unknown", "-", std::nullopt};
  std::optional<std::int64_t> since;
  if (auto d = json_number(*status, "down_since_unix")) since = static_cast<std::int64_t>(*d);
  const bool connected = json_bool(*status, "stream_connected").value_or(false);
  const bool stale = json_bool(*status, "stale").value_or(false);
  auto for_how_long = [&] {
    if (!since) return std::string();
    const auto d = std::chrono::duration_cast<std::chrono::seconds>(now - from_unix(*since));
    return " " + human_duration(std::max(d, std::chrono::seconds(0)));
  };
  if (stale) return {"stale", "stale" + for_how_long(), since};
  if (!connected) return {"down", "down" + for_how_long(), since};
  if (!json_bool(*status, "synced").value_or(false)) return {"down", "syncing", since};
  return {"current", "current", std::nullopt};
}

CheckResult check_export_stream(const std::string& cluster, const boost::json::object& status) {
  const char* name = "export-stream";
  const bool connected = json_bool(status, "stream_connected").value_or(false);
  const bool synced = json_bool(status, "synced").value_or(false);
  const auto last_error = json_string(status, "last_error").value_or("");
  const auto where = json_string(status, "export_address").value_or("?");
  const auto stale_after =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds(
          static_cast<std::int64_t>(json_number(status, "stale_after_ms").value_or(0))));
  const auto since = json_number(status, "down_since_unix");
  const std::string down_since = since ? " since " + format_time(from_unix(*since)) : "";
  if (json_bool(status, "stale").value_or(false)) {
    return failed(cluster, name,
                  "stale: not connected to " + where + down_since + ", longer than staleAfter " +
                      human_duration(stale_after) + "; the mirrors' endpoints are not ready" +
                      (last_error.empty() ? "" : " (" + last_error + ")"));
  }
  if (!connected) {
    std::string served;
    if (since && stale_after.count() > 0) {
      served =
          "; mirrors served as last seen until " + format_time(from_unix(*since) + stale_after);
    }
    return failed(cluster, name,
                  "not connected to " + where + down_since +
                      (last_error.empty() ? "" : ": " + last_error) + served);
  }
  if (!synced) return failed(cluster, name, "connected to " + where + ", not synced yet");
  return ok(cluster, name, "connected to " + where + ", synced");
}

CheckResult check_gateway_reachable(const discovery::Link& link, const GatewayProber& prober) {
  const std::string& c = link.target_cluster;
  auto r = prober(link);
  if (!r) return failed(c, "gateway-reachable", r.error().message);
  return ok(c, "gateway-reachable", *r);
}

CheckResult check_gateway_probes(const std::string& cluster, const boost::json::object& status) {
  const char* name = "gateway-probes";
  const bool alive = json_bool(status, "gateway.alive").value_or(false);
  const auto last = json_string(status, "gateway.probe.last_result").value_or("");
  const auto in_a_row =
      static_cast<std::int64_t>(json_number(status, "gateway.probe.failures_in_a_row").value_or(0));
  const auto threshold =
      static_cast<std::int64_t>(json_number(status, "gateway.probe.failure_threshold").value_or(0));
  const std::string tally = std::to_string(in_a_row) + " failed probe" +
                            (in_a_row == 1 ? "" : "s") + " in a row (not alive after " +
                            std::to_string(threshold) + " failed rounds)";
  if (!alive) {
    return failed(cluster, name, "gateway not alive: last probe " + last + ", " + tally);
  }
  if (last.empty()) return failed(cluster, name, "no probe has run yet");
  if (last != "success") return failed(cluster, name, "last probe " + last + ", " + tally);
  std::string detail = "alive, last probe success";
  if (auto ms = json_number(status, "gateway.probe.last_success_latency_ms")) {
    detail += " in " + format_ms(*ms);
  }
  return ok(cluster, name, detail);
}

CheckResult check_mirrors(const LinkView& view) {
  const std::string& c = view.link.target_cluster;
  if (view.mirrors.empty()) return ok(c, "mirrors", "no mirrors");
  std::vector<std::string> empty;
  for (const auto& m : view.mirrors) {
    if (m.ready > 0) continue;
    empty.push_back(m.ns + "/" + m.name + " (" + std::to_string(m.endpoints) +
                    (m.endpoints == 1 ? " endpoint" : " endpoints") + ", none ready)");
  }
  const std::string n = std::to_string(view.mirrors.size());
  if (!empty.empty()) {
    return failed(c, "mirrors",
                  std::to_string(empty.size()) + " of " + n +
                      " mirrors without ready endpoints: " + join(empty, ", "));
  }
  return ok(
      c, "mirrors",
      n + (view.mirrors.size() == 1 ? " mirror" : " mirrors") + ", each with ready endpoints");
}

CheckResult check_service_imports(const LinkView& view) {
  const std::string& c = view.link.target_cluster;
  std::vector<std::string> conflicts;
  for (const auto& i : view.imports) {
    for (const auto& m : i.conflicts) conflicts.push_back(i.meta.ns + "/" + i.meta.name + ": " + m);
  }
  const std::string n = std::to_string(view.imports.size());
  if (!conflicts.empty()) {
    return failed(c, "service-imports",
                  std::to_string(conflicts.size()) + " conflicts in " + n +
                      " imports: " + join(conflicts, "; "));
  }
  if (view.imports.empty()) return ok(c, "service-imports", "no imports from this cluster");
  return ok(c, "service-imports",
            n + (view.imports.size() == 1 ? " import" : " imports") + ", no conflicts");
}

std::vector<CheckResult> check_link(const LinkView& view, const MulticlusterView& all,
                                    const GatewayProber& prober, Clock::time_point now) {
  const std::string& c = view.link.target_cluster;
  const std::string no_status = "no status from strait-link (see link-service)";
  const std::string flat_only = "flat-only link: no gateway addresses";
  std::vector<CheckResult> out;
  out.push_back(check_link_valid(view.link));
  out.push_back(check_link_service(view, all));
  out.push_back(view.status ? check_credentials(c, *view.status, now)
                            : skipped(c, "credentials", no_status));
  out.push_back(check_trust_bundle(view.link, now));
  out.push_back(view.status ? check_export_stream(c, *view.status)
                            : skipped(c, "export-stream", no_status));
  if (view.flat_only()) {
    out.push_back(skipped(c, "gateway-reachable", flat_only));
    out.push_back(skipped(c, "gateway-probes", flat_only));
  } else {
    out.push_back(check_gateway_reachable(view.link, prober));
    out.push_back(view.status ? check_gateway_probes(c, *view.status)
                              : skipped(c, "gateway-probes", no_status));
  }
  out.push_back(check_mirrors(view));
  out.push_back(check_service_imports(view));
  return out;
}

}  // namespace strait::cli
