// What a mesh refuses across clusters: link tokens used twice or past their expiry; clients
// whose certificates come from an unrelated trust root, at the gateway and at the export API;
// target names outside the gateway's cluster domain; and services exported only to other
// clusters (export-to).
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/identity/spiffe_id.h"
#include "core/tls/authority.h"
#include "core/tls/csr.h"
#include "core/tls/key.h"
#include "tests/integration/multicluster/mc_env.h"

namespace strait::multicluster_it {
namespace {

using Clock = std::chrono::steady_clock;

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// A leaf of `ca` for `id`, written as <dir>/<name>.{crt,key}.
Result<void> issue(const tls::CertificateAuthority& ca, const std::string& id_text,
                   const std::string& dir, const std::string& name) {
  auto id = identity::SpiffeId::parse(id_text);
  if (!id) return id.error();
  auto key = tls::PrivateKey::generate_p256();
  if (!key) return key.error();
  auto csr_pem = tls::make_csr(*key, *id);
  if (!csr_pem) return csr_pem.error();
  auto csr = tls::CertificateRequest::from_pem(*csr_pem);
  if (!csr) return csr.error();
  auto leaf = ca.issue_leaf(*csr, *id, std::chrono::hours(1));
  if (!leaf) return leaf.error();
  write(dir + "/" + name + ".crt", leaf->to_pem());
  write(dir + "/" + name + ".key", key->to_pem());
  return {};
}

class RefusalTest : public MulticlusterTest {
 public:
  // Waits until strait-link in `cluster` reports a credentials error naming `code` ("": any)
  // for its Link to `target`; *entry gets the last /links entry.
  bool credentials_refused(const std::string& cluster, const std::string& target,
                           const std::string& code, boost::json::value* entry) {
    return harness::wait_until(
               [&] {
                 *entry = link_entry(cluster, target);
                 const std::string error = json_text(*entry, "credentials.error");
                 return !error.empty() && error.find(code) != std::string::npos;
               },
               harness::deadline_in(20s))
        .ok();
  }
  // Unlinks `target` in `cluster` and waits until its strait-link dropped every watcher.
  Result<void> unlink(const std::string& cluster, const std::string& target) {
    auto r = m().straitctl(cluster, {"multicluster", "unlink", "--cluster-name", target});
    if (!r) return r.error();
    if (!harness::wait_until([&] { return link_count(cluster) == 0; }, harness::deadline_in(10s))
             .ok()) {
      return make_error("timeout",
                        cluster + ": strait-link still has links: " + m().link_status(cluster));
    }
    return {};
  }
  // openssl s_client from west's router, on the wan segment (the wan namespace itself has no
  // address) and outside any pod's interception.
  harness::ExecResult s_client(const std::string& address, const std::string& cert,
                               const std::string& key, const std::string& ca,
                               const std::vector<std::string>& extra = {},
                               std::chrono::milliseconds timeout = 10s) {
    std::vector<std::string> argv = {"openssl", "s_client", "-connect", address, "-cert",   cert,
                                     "-key",    key,        "-CAfile",  ca,      "-ign_eof"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return m().exec("west", argv, timeout);
  }
};

TEST_F(RefusalTest, LinkTokensForeignRootsOutsideNamesAndExportTo) {
  ASSERT_OK(up({"east", "west", "north"}, Topology::mixed));
  auto east = m().cluster("east");
  ASSERT_OK(east);
  // A token that expires in 1 s, made now so that its expiry passes while the rest is set up.
  auto expiring = m().link_gen("east", "north", "1s");
  ASSERT_OK(expiring);
  const auto expiring_made = Clock::now();

  ASSERT_OK(http_service("east", "web", "web", {{kExported, "true"}}));
  ASSERT_OK(http_service("east", "db", "db", {{kExported, "true"}}, {{kExportTo, "north"}}));
  auto west_link = m().link_gen("east", "west");
  ASSERT_OK(west_link);
  ASSERT_OK(m().apply("west", *west_link));
  auto web_west = m().wait_service("west", "shop", "web-east", 1, 30s);
  ASSERT_OK(web_west);  // west spent its token

  // ---- a spent token applied in another cluster: refused, nothing mirrored ----
  // The token names its source cluster (link-west), so north is refused for asking another
  // identity before the ledger would call it reused.
  ASSERT_OK(m().apply("north", *west_link));
  boost::json::value entry;
  EXPECT_TRUE(credentials_refused("north", "east", "", &entry)) << entry << "\n"
                                                                << m().link_status("north");
  const std::string reuse_error = json_text(entry, "credentials.error");
  EXPECT_TRUE(reuse_error.find("identity_mismatch") != std::string::npos ||
              reuse_error.find("reused_token") != std::string::npos)
      << reuse_error;
  EXPECT_EQ(json_at(entry, "credentials.valid"), boost::json::value(false)) << entry;
  auto mirrored = objects_from("north", "east");
  ASSERT_OK(mirrored);
  EXPECT_TRUE(mirrored->empty()) << ::testing::PrintToString(*mirrored);
  ASSERT_OK(unlink("north", "east"));

  // ---- an expired token: refused as expired ----
  // A genuine wait on the clock: 1 s of validity (whole seconds), the verifier's 5 s of leeway
  // for clock skew (docs/controller.md, token::kExpiryLeeway), and a margin.
  const auto past_expiry = expiring_made + 1s + 5s + 1500ms;
  std::this_thread::sleep_until(past_expiry);
  ASSERT_OK(m().apply("north", *expiring));
  EXPECT_TRUE(credentials_refused("north", "east", "expired_token", &entry))
      << entry << "\n"
      << m().link_status("north");
  mirrored = objects_from("north", "east");
  ASSERT_OK(mirrored);
  EXPECT_TRUE(mirrored->empty()) << ::testing::PrintToString(*mirrored);
  ASSERT_OK(unlink("north", "east"));

  // ---- export-to: db goes to north only ----
  ASSERT_OK(m().link("north", "east"));
  ASSERT_OK(m().wait_service("north", "shop", "db-east", 1, 30s));
  ASSERT_OK(m().wait_service("north", "shop", "web-east", 1, 30s));
  // West has had east's whole export for a while (web-east above); db is not in it.
  auto west_objects = list("west", "services", "shop");
  ASSERT_OK(west_objects);
  for (const auto& o : *west_objects) EXPECT_NE(discovery::meta_of(o).name, "db-east");
  auto west_entry = link_entry("west", "east");
  EXPECT_EQ(json_at(west_entry, "synced"), boost::json::value(true)) << west_entry;
  EXPECT_EQ(boost::json::serialize(west_entry).find("db-east"), std::string::npos) << west_entry;

  // ---- an unrelated trust root: refused at the gateway and at the export API ----
  const std::string rogue = work_ + "/rogue";
  std::filesystem::create_directories(rogue);
  auto ca = tls::CertificateAuthority::create_root("rogue root", std::chrono::hours(24));
  ASSERT_OK(ca);
  write(rogue + "/ca.crt", ca->cert().to_pem());
  // The very identities a real peer would have: only the root differs.
  ASSERT_OK(issue(*ca, "spiffe://" + east->trust_domain + "/ns/strait-multicluster/sa/link-west",
                  rogue, "link"));
  ASSERT_OK(issue(*ca, client_id("west"), rogue, "client"));

  const Labels handshake = {{"direction", "gateway"}, {"reason", "tls_handshake_failed"}};
  const double handshakes_before =
      std::max(0.0, metric("east/gw", "proxy_refused_total", handshake));
  auto at_gateway = s_client(east->gateway_wan_ip + ":4143", rogue + "/client.crt",
                             rogue + "/client.key", rogue + "/ca.crt");
  const std::string gw_out = at_gateway.out + at_gateway.err;
  EXPECT_NE(gw_out.find("CONNECTED"), std::string::npos) << gw_out;  // TCP got there
  EXPECT_NE(gw_out.find("alert"), std::string::npos) << "no TLS alert from the gateway:\n"
                                                     << gw_out;
  EXPECT_FALSE(at_gateway.timed_out) << gw_out;
  EXPECT_TRUE(wait_metric("east/gw", "proxy_refused_total", handshake, handshakes_before + 1, 10s))
      << m().metrics("east/gw");

  auto at_export = s_client(east->ctrl_wan_ip + ":8443", rogue + "/link.crt", rogue + "/link.key",
                            rogue + "/ca.crt", {"-alpn", "h2"});
  const std::string export_out = at_export.out + at_export.err;
  EXPECT_NE(export_out.find("CONNECTED"), std::string::npos) << export_out;
  // The server closes the connection on the failed handshake (TLS 1.3: the client learns it at
  // its first read), with or without an alert.
  EXPECT_TRUE(export_out.find("alert") != std::string::npos ||
              export_out.find("unexpected eof") != std::string::npos)
      << "the export API did not refuse:\n"
      << export_out;
  EXPECT_FALSE(at_export.timed_out) << export_out;
  // The control: west's real link certificate (east's root, same identity) gets through.
  const std::string creds = m().cluster("west")->state_dir + "/links/east";
  const std::string east_anchor = east->state_dir + "/ca/anchor.crt";
  // It stays connected (the server waits for HTTP/2): 3 s of that is proof enough.
  auto genuine = s_client(
      east->ctrl_wan_ip + ":8443", creds + "/cert.pem", creds + "/key.pem", east_anchor,
      {"-cert_chain", creds + "/cert.pem", "-alpn", "h2", "-verify_return_error", "-brief"}, 3s);
  const std::string genuine_out = genuine.out + genuine.err;
  EXPECT_EQ(genuine_out.find("alert"), std::string::npos) << genuine_out;
  EXPECT_EQ(genuine_out.find("unexpected eof"), std::string::npos) << genuine_out;
  EXPECT_NE(genuine_out.find("CONNECTION ESTABLISHED"), std::string::npos) << genuine_out;
  EXPECT_TRUE(genuine.timed_out) << "the export API closed on a genuine link certificate:\n"
                                 << genuine_out;

  // ---- a target name outside east's domain, at east's gateway ----
  const std::string stray =
      service_yaml("stray", {}) +
      "---\napiVersion: strait.dev/v1alpha1\nkind: Endpoint\nmetadata: {name: stray-0, "
      "namespace: shop}\nspec: {service: stray, address: " +
      east->gateway_wan_ip + ", port: 4143, identity: \"" + east->gateway_identity() +
      "\", authorityOverride: web.shop.svc.elsewhere.example}\n";
  ASSERT_OK(m().apply("west", stray));
  auto stray_svc = m().wait_service("west", "shop", "stray", 1, 10s);
  ASSERT_OK(stray_svc);
  const Labels outside = {{"direction", "gateway"}, {"reason", "outside_domain"}};
  const double outside_before = std::max(0.0, metric("east/gw", "proxy_refused_total", outside));
  // Every request fails; until one of them has reached the gateway (west's client proxy learns
  // of the new service on its first request).
  std::string answered;
  EXPECT_TRUE(harness::wait_until(
                  [&] {
                    // The proxy's own answer (502 with strait-proxy-error) is a refusal too.
                    auto r = m().exec("west/client",
                                      {"curl", "-sS", "--max-time", "5", "-D", "-",
                                       "http://" + stray_svc->service.cluster_ip + "/"},
                                      10s);
                    if (r.success() && r.out.find("strait-proxy-error") == std::string::npos) {
                      answered = r.out;
                    }
                    return metric("east/gw", "proxy_refused_total", outside) >= outside_before + 1;
                  },
                  harness::deadline_in(20s))
                  .ok())
      << m().metrics("east/gw");
  EXPECT_EQ(answered, "") << "a request outside east's domain was answered";
  // The same gateway still serves names of its own domain.
  std::string last;
  EXPECT_TRUE(curl_until("west/client", "http://" + web_west->service.cluster_ip + "/",
                         "hello from east-web", 20s, &last))
      << last;

  // ---- a spent token in its own cluster: a strait-link that lost its credential ----
  ASSERT_OK(m().stop("west", "link"));
  std::filesystem::remove_all(m().cluster("west")->state_dir + "/links");
  ASSERT_OK(m().start("west", "link"));
  EXPECT_TRUE(credentials_refused("west", "east", "reused_token", &entry))
      << entry << "\n"
      << m().link_status("west");
}

}  // namespace
}  // namespace strait::multicluster_it
