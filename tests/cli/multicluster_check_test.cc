// The checks of `straitctl multicluster check` on made-up Links, status and mirrors: what
// passes, what fails and how the detail says why (near expiry: which rule), what is skipped.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "cli/format.h"
#include "cli/link_status.h"
#include "cli/multicluster_check.h"
#include "core/discovery/manifest.h"
#include "core/tls/authority.h"

namespace strait::cli {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

std::int64_t unix_of(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// East's Link as link-gen writes it, with `bundle_pem` as its trust bundle.
discovery::Link make_link(const std::string& bundle_pem) {
  auto parsed = discovery::parse_manifests(R"(
apiVersion: multicluster.strait.dev/v1alpha1
kind: Link
metadata: {name: east, namespace: strait-multicluster}
spec:
  targetClusterName: east
  targetClusterDomain: cluster.local
  targetTrustDomain: east.strait
  exportAddress: 127.0.0.1:8443
  identityAddress: 127.0.0.1:8080
  gatewayAddresses: [127.0.0.1]
  gatewayIdentity: spiffe://east.strait/ns/strait-multicluster/sa/strait-gateway
)",
                                           "west");
  EXPECT_TRUE(parsed) << parsed.error().to_string();
  auto link = std::get<discovery::Link>(parsed->at(0));
  link.trust_bundle_pem = bundle_pem;
  return link;
}

std::string root_pem(std::chrono::seconds lifetime = 24h) {
  auto ca = tls::CertificateAuthority::create_root("east root", lifetime);
  EXPECT_TRUE(ca);
  return ca->cert().to_pem();
}

boost::json::object credentials_status(Clock::time_point not_before, Clock::time_point expiry,
                                       const std::string& error = "") {
  return boost::json::parse(
             R"({"credentials":{"valid":true,"identity":"spiffe://x/y","expires_unix":)" +
             std::to_string(unix_of(expiry)) + R"(,"not_before_unix":)" +
             std::to_string(unix_of(not_before)) + R"(,"error":")" + error + R"("}})")
      .as_object();
}

boost::json::object probe_status(bool alive, const std::string& last, int in_a_row) {
  return boost::json::parse(R"({"gateway":{"alive":)" + std::string(alive ? "true" : "false") +
                            R"(,"probe":{"last_result":")" + last +
                            R"(","last_success_latency_ms":1.25,"failures_in_a_row":)" +
                            std::to_string(in_a_row) + R"(,"failure_threshold":3}}})")
      .as_object();
}

// Whole seconds, as the status carries them.
Clock::time_point now_s() { return std::chrono::floor<std::chrono::seconds>(Clock::now()); }

TEST(MulticlusterCheck, CredentialsFarFromExpiryPass) {
  const auto now = now_s();
  auto r = check_credentials("east", credentials_status(now - 1h, now + 23h), now);
  EXPECT_EQ(r.outcome, Outcome::kOk) << r.detail;
  EXPECT_EQ(r.check, "credentials");
  EXPECT_NE(r.detail.find("expires in 23h"), std::string::npos) << r.detail;
}

TEST(MulticlusterCheck, CredentialsNearExpirySayWhichRule) {
  const auto now = now_s();
  // 2 h left of 24 h: under 10 % only.
  auto tenth = check_credentials("east", credentials_status(now - 22h, now + 2h), now);
  EXPECT_EQ(tenth.outcome, Outcome::kFail);
  EXPECT_NE(tenth.detail.find("less than 10% of its 1d lifetime left"), std::string::npos)
      << tenth.detail;
  EXPECT_EQ(tenth.detail.find("less than 1h"), std::string::npos) << tenth.detail;
  // 30 min left of a 10 h lifetime (5 %): both rules.
  auto both = check_credentials("east", credentials_status(now - 9h - 30min, now + 30min), now);
  EXPECT_EQ(both.outcome, Outcome::kFail);
  EXPECT_NE(both.detail.find("less than 1h left and less than 10%"), std::string::npos)
      << both.detail;
  // 50 min left of a 1 h lifetime: under 1 h only.
  auto hour = check_credentials("east", credentials_status(now - 10min, now + 50min), now);
  EXPECT_EQ(hour.outcome, Outcome::kFail);
  EXPECT_NE(hour.detail.find("less than 1h left"), std::string::npos) << hour.detail;
  EXPECT_EQ(hour.detail.find("10%"), std::string::npos) << hour.detail;
  // Expired.
  auto gone = check_credentials("east", credentials_status(now - 2h, now - 1min), now);
  EXPECT_EQ(gone.outcome, Outcome::kFail);
  EXPECT_NE(gone.detail.find("expired"), std::string::npos) << gone.detail;
}

TEST(MulticlusterCheck, MissingCredentialsFailWithStraitLinksError) {
  auto st = boost::json::parse(
                R"({"credentials":{"valid":false,"error":"unauthenticated: reused_token"}})")
                .as_object();
  auto r = check_credentials("east", st, Clock::now());
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.detail.find("reused_token"), std::string::npos) << r.detail;
}

TEST(MulticlusterCheck, TrustBundle) {
  const auto now = Clock::now();
  const auto pem = root_pem(24h);
  auto good = check_trust_bundle(make_link(pem), now);
  EXPECT_EQ(good.outcome, Outcome::kOk) << good.detail;
  EXPECT_NE(good.detail.find("1 root for east.strait"), std::string::npos) << good.detail;

  auto expired = check_trust_bundle(make_link(pem), now + 25h);
  EXPECT_EQ(expired.outcome, Outcome::kFail);
  EXPECT_NE(expired.detail.find("expired"), std::string::npos) << expired.detail;

  auto garbage = check_trust_bundle(
      make_link("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"), now);
  EXPECT_EQ(garbage.outcome, Outcome::kFail);
  EXPECT_NE(garbage.detail.find("does not parse"), std::string::npos) << garbage.detail;

  auto foreign = make_link(pem);
  foreign.gateway_identity = "spiffe://west.strait/ns/strait-multicluster/sa/strait-gateway";
  auto out_of_scope = check_trust_bundle(foreign, now);
  EXPECT_EQ(out_of_scope.outcome, Outcome::kFail);
  EXPECT_NE(out_of_scope.detail.find("outside east.strait"), std::string::npos)
      << out_of_scope.detail;

  EXPECT_EQ(check_trust_bundle(make_link(""), now).outcome, Outcome::kFail);
}

TEST(MulticlusterCheck, LinkValid) {
  auto link = make_link(root_pem());
  EXPECT_EQ(check_link_valid(link).outcome, Outcome::kOk);
  link.identity_address.clear();
  auto r = check_link_valid(link);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.detail.find("spec.identityAddress"), std::string::npos) << r.detail;
  link = make_link(root_pem());
  link.probe.failure_threshold = 0;
  r = check_link_valid(link);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.detail.find("failureThreshold"), std::string::npos) << r.detail;
}

TEST(MulticlusterCheck, GatewayProbes) {
  auto good = check_gateway_probes("east", probe_status(true, "success", 0));
  EXPECT_EQ(good.outcome, Outcome::kOk) << good.detail;
  EXPECT_NE(good.detail.find("1.2ms"), std::string::npos) << good.detail;
  auto dead = check_gateway_probes("east", probe_status(false, "connect_failed", 4));
  EXPECT_EQ(dead.outcome, Outcome::kFail);
  EXPECT_NE(dead.detail.find("not alive: last probe connect_failed, 4 failed probes in a row"),
            std::string::npos)
      << dead.detail;
  auto flapping = check_gateway_probes("east", probe_status(true, "timeout", 1));
  EXPECT_EQ(flapping.outcome, Outcome::kFail);
  EXPECT_NE(flapping.detail.find("last probe timeout"), std::string::npos) << flapping.detail;
  auto none = check_gateway_probes("east", probe_status(true, "", 0));
  EXPECT_EQ(none.outcome, Outcome::kFail);
}

// The export stream: connected and synced passes; down says since when and until when the
// mirrors are served as last seen; stale says their endpoints are not ready. The gateways
// table's EXPORT column reads the same fields.
TEST(MulticlusterCheck, ExportStreamDownAndStale) {
  auto status = [](const std::string& extra) {
    return boost::json::parse(R"({"export_address":"198.18.250.101:8087","stale_after_ms":300000)" +
                              extra + "}")
        .as_object();
  };
  const auto now = Clock::now();
  const auto down = std::chrono::duration_cast<std::chrono::seconds>(
                        (now - std::chrono::seconds(42)).time_since_epoch())
                        .count();
  const std::string since = R"(,"down_since_unix":)" + std::to_string(down);

  auto current = status(R"(,"stream_connected":true,"synced":true)");
  EXPECT_EQ(check_export_stream("east", current).outcome, Outcome::kOk);
  EXPECT_EQ(export_state_of(&current, now).text, "current");

  auto lost = status(R"(,"stream_connected":false,"stale":false)" + since);
  auto r = check_export_stream("east", lost);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.detail.find("not connected to 198.18.250.101:8087 since "), std::string::npos)
      << r.detail;
  EXPECT_NE(r.detail.find("mirrors served as last seen until "), std::string::npos) << r.detail;
  EXPECT_EQ(export_state_of(&lost, now).name, "down");
  EXPECT_EQ(export_state_of(&lost, now).text, "down 42s");
  EXPECT_EQ(export_state_of(&lost, now).down_since_unix, down);

  auto stale = status(R"(,"stream_connected":false,"stale":true)" + since);
  r = check_export_stream("east", stale);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.detail.find("stale: not connected"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("longer than staleAfter 5m"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("endpoints are not ready"), std::string::npos) << r.detail;
  EXPECT_EQ(export_state_of(&stale, now).text, "stale 42s");
  EXPECT_EQ(export_state_of(nullptr, now).text, "-");
}

TEST(MulticlusterCheck, MirrorsWithoutReadyEndpointsAreNamed) {
  LinkView v{make_link(root_pem()), {}, std::nullopt, {}};
  EXPECT_EQ(check_mirrors(v).outcome, Outcome::kOk);
  v.mirrors = {{"shop", "web-east", 1, 1}, {"shop", "empty-east", 1, 0}, {"shop", "db-east", 0, 0}};
  auto r = check_mirrors(v);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.detail.find("2 of 3 mirrors without ready endpoints"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("shop/empty-east (1 endpoint, none ready)"), std::string::npos);
  EXPECT_NE(r.detail.find("shop/db-east (0 endpoints, none ready)"), std::string::npos);
  EXPECT_EQ(r.detail.find("web-east"), std::string::npos);
}

TEST(MulticlusterCheck, ServiceImportConflictsAreNamed) {
  LinkView v{make_link(root_pem()), {}, std::nullopt, {}};
  EXPECT_EQ(check_service_imports(v).detail, "no imports from this cluster");
  discovery::ServiceImport clean, clash;
  clean.meta.ns = clash.meta.ns = "shop";
  clean.meta.name = "web";
  clash.meta.name = "db";
  clash.conflicts = {"port sql: east exports 5433/opaque, west's 5432/opaque is used"};
  v.imports = {clean};
  EXPECT_EQ(check_service_imports(v).outcome, Outcome::kOk);
  EXPECT_EQ(check_service_imports(v).detail, "1 import, no conflicts");
  v.imports.push_back(clash);
  auto r = check_service_imports(v);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.detail,
            "1 conflicts in 2 imports: shop/db: port sql: east exports 5433/opaque, "
            "west's 5432/opaque is used");
}

TEST(MulticlusterCheck, WithoutStatusOrGatewayTheDependentChecksAreSkipped) {
  LinkView v{make_link(root_pem()), {}, std::nullopt, {}};
  MulticlusterView all;
  all.link_admin = "127.0.0.1:9999";
  all.link_service_error = make_error("link_service_unreachable", "strait-link at x: refused");
  int probes = 0;
  GatewayProber prober = [&](const discovery::Link&) -> Result<std::string> {
    ++probes;
    return std::string("127.0.0.1:4191 answered /ready in 1.0ms");
  };
  auto results = check_link(v, all, prober, Clock::now());
  std::vector<std::string> names;
  std::map<std::string, Outcome> by_name;
  for (const auto& r : results) {
    names.push_back(r.check);
    by_name[r.check] = r.outcome;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"link-valid", "link-service", "credentials",
                                             "trust-bundle", "export-stream", "gateway-reachable",
                                             "gateway-probes", "mirrors", "service-imports"}));
  EXPECT_EQ(by_name["link-service"], Outcome::kFail);
  EXPECT_EQ(by_name["credentials"], Outcome::kSkip);
  EXPECT_EQ(by_name["export-stream"], Outcome::kSkip);
  EXPECT_EQ(by_name["gateway-probes"], Outcome::kSkip);
  EXPECT_EQ(by_name["gateway-reachable"], Outcome::kOk);
  EXPECT_EQ(probes, 1);

  // Flat-only: no gateway to probe.
  v.link.gateway_addresses.clear();
  for (const auto& r : check_link(v, all, prober, Clock::now())) {
    if (r.check == "gateway-reachable" || r.check == "gateway-probes") {
      EXPECT_EQ(r.outcome, Outcome::kSkip);
      EXPECT_NE(r.detail.find("flat-only"), std::string::npos);
    }
  }
  EXPECT_EQ(probes, 1);
}

TEST(MulticlusterCheck, ProbeOfAClosedPortNamesTheAddress) {
  // Nothing listens on port 1 of loopback: the probe fails fast with the address in the reason.
  auto link = make_link(root_pem());
  link.probe.port = 1;
  link.probe.timeout = 2s;
  auto r = probe_gateway(link);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("127.0.0.1:1"), std::string::npos) << r.error().message;
}

Args args_of(std::vector<std::string> words) {
  auto a = Args::parse(words, {"state-dir", "link-admin", "controller"}, {}, {});
  EXPECT_TRUE(a);
  return *a;
}

TEST(LinkStatus, AddressFromTheFlagTheStateDirOrTheDefault) {
  EXPECT_EQ(*link_admin_address(args_of({"--link-admin", "10.0.0.1:9000"})), "10.0.0.1:9000");
  EXPECT_EQ(*link_admin_address(args_of({"--controller", "x:1"})), "127.0.0.1:9999");

  char tmpl[] = "/tmp/strait-cli-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::filesystem::path dir = tmpl;
  auto missing = link_admin_address(args_of({"--state-dir", dir.string()}));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("strait-link.json"), std::string::npos);
  std::filesystem::create_directories(dir / "run");
  auto with = [&](const std::string& admin) {
    std::ofstream(dir / "run" / "strait-link.json") << R"({"admin":")" << admin << R"(","pid":1})";
    auto r = link_admin_address(args_of({"--state-dir", dir.string()}));
    return r ? *r : r.error().to_string();
  };
  EXPECT_EQ(with("0.0.0.0:9999"), "127.0.0.1:9999");
  EXPECT_EQ(with(":::9999"), "[::1]:9999");
  EXPECT_EQ(with("127.0.0.1:41234"), "127.0.0.1:41234");
  std::filesystem::remove_all(dir);
}

TEST(LinkStatus, FetchNamesTheAddressItCouldNotRead) {
  auto bad = fetch_link_status("no-port", 1s);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "invalid_address");
  // A name (resolved with a deadline) and a port nothing listens on.
  auto refused = fetch_link_status("localhost:1", 2s);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "link_service_unreachable");
  EXPECT_NE(refused.error().message.find("strait-link at localhost:1"), std::string::npos)
      << refused.error().message;
}

TEST(Format, HumanDurations) {
  EXPECT_EQ(human_duration(0s), "0s");
  EXPECT_EQ(human_duration(42s), "42s");
  EXPECT_EQ(human_duration(23h + 59min + 3s), "23h59m");
  EXPECT_EQ(human_duration(48h + 30min), "2d");
  EXPECT_EQ(human_duration(26h), "1d2h");
  EXPECT_EQ(format_ms(1.25), "1.2ms");
  EXPECT_EQ(format_ms(42.4), "42ms");
}

}  // namespace
}  // namespace strait::cli
