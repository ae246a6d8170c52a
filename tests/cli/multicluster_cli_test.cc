// straitctl multicluster check / gateways / link-gen -o json / unlink -o json for real: two
// controllers (east, west) on loopback, the Link from `straitctl multicluster link-gen` on east
// applied in west with `straitctl apply`, the real strait-link of west, and east's real
// strait-gateway (its gateway and probe ports named in east's multicluster.* settings and the
// Link). Ports picked free, every wait with a deadline, every process stopped on failure too.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/discovery/json_codec.h"
#include "core/discovery/manifest.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/gateway/gateway_env.h"
#include "tests/link/link_process.h"

namespace strait::cli {
namespace {
using namespace std::chrono_literals;
using controlplane::testing::ControllerOptions;
using controlplane::testing::ControllerProcess;
using controlplane::testing::ProcessResult;
using controlplane::testing::TempDir;
using controlplane::testing::wait_until;
namespace fs = std::filesystem;

constexpr auto kProbePeriod = 200ms;
constexpr std::uint32_t kThreshold = 3;

// A free loopback port: bound, then released (the process binds it right after).
std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

std::string build_path(const std::string& rel) { return std::string(STRAIT_BUILD_DIR) + "/" + rel; }

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

// What east exports: web through the gateway (one endpoint), db flat (one endpoint).
constexpr const char* kWebAndDb = R"(
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: web, namespace: shop, labels: {mirror.strait.dev/exported: "true"}}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: strait.dev/v1alpha1
kind: Endpoint
metadata: {name: web-0, namespace: shop}
spec: {service: web, address: 10.1.0.1, port: 8080, identity: "spiffe://east.strait/ns/shop/sa/web"}
---
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: db, namespace: shop, labels: {mirror.strait.dev/exported: remote-discovery}}
spec: {ports: [{name: tcp, port: 5432}]}
---
apiVersion: strait.dev/v1alpha1
kind: Endpoint
metadata: {name: db-0, namespace: shop}
spec: {service: db, address: 10.1.0.2, port: 5432, identity: "spiffe://east.strait/ns/shop/sa/db"}
)";
// Exported through the gateway, without a single endpoint.
constexpr const char* kEmpty = R"(
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: empty, namespace: shop, labels: {mirror.strait.dev/exported: "true"}}
spec: {ports: [{name: http, port: 80}]}
)";
// West's own service: the namespace the mirrors go to.
constexpr const char* kFrontend = R"(
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: frontend, namespace: shop}
spec: {ports: [{name: http, port: 80}]}
)";

// Applies manifests (every document, or those whose name is in `only`).
Result<void> apply(const ControllerProcess& where, const std::string& manifests,
                   const std::set<std::string>& only = {}) {
  auto objects = discovery::parse_manifests(manifests, where.options().cluster);
  if (!objects) return objects.error();
  std::erase_if(*objects, [&](const discovery::Object& o) {
    return !only.empty() && !only.contains(discovery::meta_of(o).name);
  });
  auto r = where.apply(*objects);
  if (!r) return r.error();
  return {};
}

// The rows of a table printed by straitctl, split on runs of spaces (the last column whole).
std::vector<std::vector<std::string>> table_rows(const std::string& out, std::size_t columns) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::size_t at = 0;
    while (cells.size() + 1 < columns && at < line.size()) {
      auto gap = line.find("   ", at);
      if (gap == std::string::npos) break;
      cells.push_back(line.substr(at, gap - at));
      at = line.find_first_not_of(' ', gap);
      if (at == std::string::npos) at = line.size();
    }
    cells.push_back(line.substr(at));
    if (cells.size() == columns) rows.push_back(std::move(cells));
  }
  return rows;
}

class MulticlusterCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway_port_ = free_port();
    probe_port_ = free_port();
    const std::string e = "127.0.0.1:" + std::to_string(free_port());
    const std::string i = "127.0.0.1:" + std::to_string(free_port());
    ControllerOptions eo;
    eo.cluster = "east";
    eo.trust_domain = "east.strait";
    // What `straitctl install --export-address --identity-address --gateway-addresses` writes
    // to controller.yaml, given as overrides.
    eo.flags = {"--listen.export=" + e,
                "--multicluster.exportAddress=" + e,
                "--listen.identity=" + i,
                "--multicluster.identityAddress=" + i,
                "--multicluster.gatewayAddresses=127.0.0.1",
                "--multicluster.gatewayPort=" + std::to_string(gateway_port_)};
    east_ = std::make_unique<ControllerProcess>(eo);
    ControllerOptions wo;
    wo.cluster = "west";
    wo.trust_domain = "west.strait";
    west_ = std::make_unique<ControllerProcess>(wo);
    ASSERT_TRUE(east_->install());
    ASSERT_TRUE(west_->install());
    auto es = east_->start();
    ASSERT_TRUE(es) << es.error().to_string();
    auto ws = west_->start();
    ASSERT_TRUE(ws) << ws.error().to_string();
    // West needs the namespace: a local service of its own in shop.
    ASSERT_TRUE(apply(*west_, kFrontend));
  }

  void TearDown() override {
    if (HasFailure() || std::getenv("STRAIT_TEST_PRINT_LOG") != nullptr) {
      std::cerr << "---- strait-gateway log ----\n" << gateway_.log() << "---- end ----\n";
    }
  }

  ProcessResult straitctl(const ControllerProcess& where, std::vector<std::string> args) {
    args.insert(args.begin(), ControllerProcess::straitctl_binary());
    args.push_back("--state-dir");
    args.push_back(where.state_dir().string());
    return controlplane::testing::run_process(args, 30s);
  }
  // In west, the cluster that applied the Link.
  ProcessResult west_ctl(std::vector<std::string> args) { return straitctl(*west_, args); }
  boost::json::value west_json(std::vector<std::string> args, int* exit_code = nullptr) {
    args.push_back("-o");
    args.push_back("json");
    auto r = west_ctl(args);
    if (exit_code != nullptr) *exit_code = r.exit_code;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.output, ec);
    EXPECT_FALSE(ec) << "not JSON: " << r.output;
    return ec ? boost::json::value(nullptr) : v;
  }

  // East's strait-gateway on the ports east's settings name, with its own identity.
  void start_gateway() {
    auto token = east_->issue_token("strait-multicluster", "strait-gateway", 3600s);
    ASSERT_TRUE(token) << token.error().to_string();
    write_text(dir_.path() / "gateway.token", *token);
    const std::string yaml =
        "identity:\n  trustDomain: east.strait\n  namespace: strait-multicluster\n"
        "  serviceAccount: strait-gateway\n  tokenFile: " +
        (dir_.path() / "gateway.token").string() +
        "\n  trustAnchors: " + (east_->state_dir() / "ca" / "anchor.crt").string() +
        "\ncontroller:\n  identity: " + east_->identity_address() +
        "\n  destination: " + east_->destination_address() +
        "\ncluster:\n  domain: cluster.local\n  name: east\n"
        "listen:\n  outbound: 127.0.0.1:0\n  inbound: 127.0.0.1:" +
        std::to_string(gateway_port_) + "\n  admin: 127.0.0.1:" + std::to_string(probe_port_) +
        "\n";
    write_text(dir_.path() / "gateway.yaml", yaml);
    auto r = gateway_.start(
        {build_path("gateway/strait-gateway"), "--config", (dir_.path() / "gateway.yaml").string()},
        dir_.path() / "gateway.log");
    ASSERT_TRUE(r) << r.error().to_string();
    auto serving = gateway_.wait_log("gateway serving", "admin_port", 30s);
    ASSERT_TRUE(serving) << serving.error().to_string();
    ASSERT_EQ(*serving, std::to_string(probe_port_));
  }

  // `straitctl multicluster link-gen -o json` on east, the probe aimed at the gateway's probe
  // port with a short period, `straitctl apply` in west.
  void link(bool flat_only = false) {
    auto gen = straitctl(*east_, {"multicluster", "link-gen", "--cluster-name", "east",
                                  "--source-cluster", "west", "-o", "json"});
    ASSERT_EQ(gen.exit_code, 0) << gen.output;
    boost::system::error_code ec;
    auto json = boost::json::parse(gen.output, ec);
    ASSERT_FALSE(ec) << "link-gen -o json is not JSON: " << gen.output;
    auto obj = discovery::object_from_json(json, discovery::JsonDialect::kManifest);
    ASSERT_TRUE(obj) << obj.error().to_string();
    auto& l = std::get<discovery::Link>(*obj);
    ASSERT_EQ(l.target_cluster, "east");
    ASSERT_FALSE(l.link_token.empty());
    ASSERT_EQ(l.gateway_port, gateway_port_);
    l.probe.port = probe_port_;
    l.probe.period = kProbePeriod;
    l.probe.timeout = 500ms;
    l.probe.failure_threshold = kThreshold;
    if (flat_only) l.gateway_addresses.clear();
    write_text(dir_.path() / "link.json", discovery::to_manifest_json(*obj));
    auto applied = west_ctl({"apply", "-f", (dir_.path() / "link.json").string()});
    ASSERT_EQ(applied.exit_code, 0) << applied.output;
  }

  void start_link_service() {
    link_ = std::make_unique<link::testing::LinkProcess>(
        west_->state_dir(), dir_.path() / "strait-link.log",
        std::vector<std::string>{"--repair.period=1s", "--links.poll=200ms"});
    auto r = link_->start();
    ASSERT_TRUE(r) << r.error().to_string();
  }

  // The row of east in `gateways -o json`, or null.
  boost::json::value east_gateway() {
    auto v = west_json({"multicluster", "gateways"});
    if (!v.is_object()) return nullptr;
    for (const auto& row : v.at("gateways").as_array()) {
      if (row.at("cluster").as_string() == "east") return row;
    }
    return nullptr;
  }
  // Healthy as `gateways -o json` says: alive, a successful last probe, `services` mirrors.
  bool gateway_healthy(std::size_t services) {
    auto row = east_gateway();
    return row.is_object() && row.at("alive") == true && row.at("last_probe") == "success" &&
           row.at("num_services").to_number<std::size_t>() == services &&
           row.at("latency_ms").is_number();
  }

  // Waits poll strait-link's /links itself (cheap, no process per poll); straitctl is run once
  // the state it reports is there. East's entry, or null.
  boost::json::value east_status() {
    auto r = link_->get("/links");
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (r.status != 200 || ec || !v.is_object()) return nullptr;
    for (const auto& l : v.at("links").as_array()) {
      if (l.at("target_cluster") == "east") return l;
    }
    return nullptr;
  }
  // Synced, `mirrors` mirrors each with a ready endpoint, and (unless flat-only) the gateway
  // alive with a successful last probe.
  bool link_healthy(std::size_t mirrors, bool gateway = true) {
    auto st = east_status();
    if (!st.is_object() || st.at("synced") != true) return false;
    const auto& ms = st.at("mirrors").as_array();
    if (ms.size() != mirrors) return false;
    for (const auto& m : ms) {
      // (The `empty` export has no endpoint by design.)
      if (m.at("ready_endpoints").to_number<int>() < 1 && m.at("service") != "empty") return false;
    }
    const auto& gw = st.at("gateway");
    return !gateway || (gw.at("alive") == true && gw.at("probe").at("last_result") == "success");
  }

  // `check -o json`: check name -> result ("ok", "fail", "skip"), and the detail of each.
  struct Checks {
    int exit_code = -1;
    bool ok = false;
    std::map<std::string, std::string> result, detail;
  };
  Checks check_json(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"multicluster", "check"};
    args.insert(args.end(), extra.begin(), extra.end());
    Checks c;
    auto v = west_json(args, &c.exit_code);
    if (!v.is_object()) return c;
    c.ok = v.at("ok").as_bool();
    for (const auto& e : v.at("checks").as_array()) {
      EXPECT_EQ(e.at("cluster").as_string(), "east");
      const std::string name(e.at("check").as_string());
      c.result[name] = std::string(e.at("result").as_string());
      c.detail[name] = std::string(e.at("detail").as_string());
    }
    return c;
  }

  void export_web_and_db() { ASSERT_TRUE(apply(*east_, kWebAndDb)); }

  // Everything up and the gateway seen healthy with `services` mirrors.
  void healthy(std::size_t services = 2) {
    ASSERT_NO_FATAL_FAILURE(export_web_and_db());
    ASSERT_NO_FATAL_FAILURE(start_gateway());
    ASSERT_NO_FATAL_FAILURE(link());
    ASSERT_NO_FATAL_FAILURE(start_link_service());
    ASSERT_TRUE(wait_until([&] { return link_healthy(services); }, 30s, 50ms))
        << link_->get("/links").body;
    ASSERT_TRUE(gateway_healthy(services))
        << west_ctl({"multicluster", "gateways", "-o", "json"}).output;
  }

  const std::set<std::string> kAllChecks = {"link-valid",     "link-service",  "credentials",
                                            "trust-bundle",   "export-stream", "gateway-reachable",
                                            "gateway-probes", "mirrors",       "service-imports"};

  TempDir dir_;
  std::uint16_t gateway_port_ = 0, probe_port_ = 0;
  std::unique_ptr<ControllerProcess> east_, west_;
  gateway_it::Process gateway_;
  std::unique_ptr<link::testing::LinkProcess> link_;
};

TEST_F(MulticlusterCliTest, HealthyLinkPassesEveryCheckAndGatewaysShowsItAlive) {
  ASSERT_NO_FATAL_FAILURE(healthy(2));

  auto table = west_ctl({"multicluster", "gateways"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  auto rows = table_rows(table.output, 5);
  ASSERT_EQ(rows.size(), 2u) << table.output;
  EXPECT_EQ(rows[0],
            (std::vector<std::string>{"CLUSTER", "ALIVE", "NUM_SVC", "LATENCY", "EXPORT"}));
  EXPECT_EQ(rows[1][4], "current");
  EXPECT_EQ(rows[1][0], "east");
  EXPECT_EQ(rows[1][1], "yes");
  EXPECT_EQ(rows[1][2], "2");
  // "1.3ms" or "42ms".
  const std::string& latency = rows[1][3];
  EXPECT_TRUE(latency.ends_with("ms") &&
              latency.find_first_not_of("0123456789.") == latency.size() - 2 &&
              std::isdigit(static_cast<unsigned char>(latency[0])))
      << latency;

  auto row = east_gateway();
  ASSERT_TRUE(row.is_object());
  EXPECT_EQ(row.at("flat_only"), false);
  EXPECT_EQ(row.at("gateway_addresses").as_array().size(), 1u);

  auto text = west_ctl({"multicluster", "check"});
  EXPECT_EQ(text.exit_code, 0) << text.output << link_->log();
  auto lines = table_rows(text.output, 3);
  ASSERT_EQ(lines.size(), 1 + kAllChecks.size()) << text.output;
  EXPECT_EQ(lines[0], (std::vector<std::string>{"CLUSTER", "CHECK", "RESULT"}));
  std::set<std::string> seen;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i][0], "east");
    seen.insert(lines[i][1]);
    EXPECT_TRUE(lines[i][2] == "ok" || lines[i][2].rfind("ok: ", 0) == 0) << text.output;
  }
  EXPECT_EQ(seen, kAllChecks);
  EXPECT_NE(text.output.find("9 checks: 9 ok, 0 failed, 0 skipped"), std::string::npos)
      << text.output;

  auto c = check_json();
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_TRUE(c.ok);
  EXPECT_EQ(c.result.size(), kAllChecks.size());
  for (const auto& [name, result] : c.result)
    EXPECT_EQ(result, "ok") << name << ": " << c.detail[name];
  EXPECT_NE(c.detail["gateway-reachable"].find("127.0.0.1:" + std::to_string(probe_port_) +
                                               " answered /ready"),
            std::string::npos)
      << c.detail["gateway-reachable"];
  EXPECT_NE(c.detail["mirrors"].find("2 mirrors"), std::string::npos) << c.detail["mirrors"];
  EXPECT_NE(
      c.detail["credentials"].find("spiffe://east.strait/ns/strait-multicluster/sa/link-west"),
      std::string::npos)
      << c.detail["credentials"];

  // --cluster-name restricts; a cluster without a Link is an error.
  EXPECT_EQ(check_json({"--cluster-name", "east"}).result.size(), kAllChecks.size());
  auto nosuch = west_ctl({"multicluster", "check", "--cluster-name", "north"});
  EXPECT_EQ(nosuch.exit_code, 1);
  EXPECT_NE(nosuch.output.find("no Link to cluster north"), std::string::npos) << nosuch.output;
}

TEST_F(MulticlusterCliTest, GatewayKilledShowsNotAliveAndFailsTheGatewayChecks) {
  ASSERT_NO_FATAL_FAILURE(healthy(2));
  ::kill(gateway_.pid(), SIGKILL);
  gateway_.stop();
  const auto killed = std::chrono::steady_clock::now();
  // The probe worker gives up after threshold failed rounds (period ± 10 % jitter each; a
  // refused connect fails at once) and a margin.
  const auto limit = kProbePeriod * kThreshold * 11 / 10 + 3s;
  ASSERT_TRUE(wait_until(
      [&] {
        auto st = east_status();
        return st.is_object() && st.at("gateway").at("alive") == false;
      },
      limit, 20ms))
      << link_->log();
  EXPECT_LT(std::chrono::steady_clock::now() - killed, limit);
  // And straitctl says so.
  auto row = east_gateway();
  ASSERT_TRUE(row.is_object());
  EXPECT_EQ(row.at("alive"), false);
  EXPECT_EQ(row.at("last_probe"), "connect_failed");
  EXPECT_TRUE(row.at("latency_ms").is_null());

  auto table = west_ctl({"multicluster", "gateways"});
  EXPECT_EQ(table.exit_code, 0) << table.output;
  auto rows = table_rows(table.output, 5);
  ASSERT_EQ(rows.size(), 2u) << table.output;
  EXPECT_EQ(rows[1], (std::vector<std::string>{"east", "no", "2", "-", "current"}));

  auto text = west_ctl({"multicluster", "check"});
  EXPECT_EQ(text.exit_code, 1) << text.output;
  std::map<std::string, std::string> by_check;
  for (const auto& r : table_rows(text.output, 3)) by_check[r[1]] = r[2];
  const std::string where = "127.0.0.1:" + std::to_string(probe_port_);
  EXPECT_EQ(by_check["gateway-reachable"].rfind("FAIL: connect to " + where, 0), 0u) << text.output;
  EXPECT_EQ(by_check["gateway-probes"].rfind("FAIL: gateway not alive", 0), 0u) << text.output;
  // web-east's gateway endpoint is not ready any more.
  EXPECT_EQ(
      by_check["mirrors"].rfind("FAIL: 1 of 2 mirrors without ready endpoints: shop/web-east", 0),
      0u)
      << text.output;
  EXPECT_EQ(by_check["link-valid"].rfind("ok", 0), 0u) << text.output;
  EXPECT_EQ(by_check["credentials"].rfind("ok", 0), 0u) << text.output;
  EXPECT_EQ(by_check["export-stream"].rfind("ok", 0), 0u) << text.output;

  auto c = check_json();
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_FALSE(c.ok);
  std::set<std::string> failing;
  for (const auto& [name, result] : c.result) {
    if (result == "fail") failing.insert(name);
  }
  EXPECT_EQ(failing, (std::set<std::string>{"gateway-reachable", "gateway-probes", "mirrors"}));
  EXPECT_NE(c.detail["gateway-reachable"].find(where), std::string::npos);
}

TEST_F(MulticlusterCliTest, MirrorWithoutEndpointsFailsOnlyTheMirrorsCheck) {
  ASSERT_NO_FATAL_FAILURE(healthy(2));
  ASSERT_TRUE(apply(*east_, kEmpty));
  ASSERT_TRUE(wait_until([&] { return link_healthy(3); }, 20s, 50ms)) << link_->get("/links").body;

  auto text = west_ctl({"multicluster", "check"});
  EXPECT_EQ(text.exit_code, 1) << text.output;
  std::map<std::string, std::string> by_check;
  for (const auto& r : table_rows(text.output, 3)) by_check[r[1]] = r[2];
  EXPECT_EQ(by_check["mirrors"],
            "FAIL: 1 of 3 mirrors without ready endpoints: shop/empty-east (1 endpoint, none "
            "ready)")
      << text.output;

  auto c = check_json();
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_FALSE(c.ok);
  for (const auto& [name, result] : c.result) {
    EXPECT_EQ(result, name == "mirrors" ? "fail" : "ok") << name << ": " << c.detail[name];
  }
  auto row = east_gateway();
  ASSERT_TRUE(row.is_object());
  EXPECT_EQ(row.at("num_services").to_number<int>(), 3);
}

TEST_F(MulticlusterCliTest, FlatOnlyLinkSkipsTheGatewayChecks) {
  ASSERT_TRUE(apply(*east_, kWebAndDb, {"db", "db-0"}));
  ASSERT_NO_FATAL_FAILURE(link(/*flat_only=*/true));
  ASSERT_NO_FATAL_FAILURE(start_link_service());
  ASSERT_TRUE(wait_until([&] { return link_healthy(1, /*gateway=*/false); }, 20s, 50ms))
      << link_->get("/links").body;
  Checks c = check_json();
  EXPECT_TRUE(c.ok);
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_EQ(c.detail["mirrors"], "1 mirror, each with ready endpoints");
  EXPECT_EQ(c.result["gateway-reachable"], "skip");
  EXPECT_EQ(c.result["gateway-probes"], "skip");
  EXPECT_NE(c.detail["gateway-probes"].find("flat-only"), std::string::npos);
  EXPECT_EQ(c.result["mirrors"], "ok");

  auto table = west_ctl({"multicluster", "gateways"});
  EXPECT_EQ(table.exit_code, 0) << table.output;
  auto rows = table_rows(table.output, 5);
  ASSERT_EQ(rows.size(), 2u) << table.output;
  EXPECT_EQ(rows[1], (std::vector<std::string>{"east", "-", "1", "-", "current"}));
}

TEST_F(MulticlusterCliTest, WithoutStraitLinkTheChecksThatNeedItFailOrSkip) {
  ASSERT_NO_FATAL_FAILURE(export_web_and_db());
  ASSERT_NO_FATAL_FAILURE(start_gateway());
  ASSERT_NO_FATAL_FAILURE(link());
  // No strait-link has run with west's state directory.
  auto c = check_json();
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_EQ(c.result["link-service"], "fail");
  EXPECT_NE(c.detail["link-service"].find("strait-link.json"), std::string::npos)
      << c.detail["link-service"];
  EXPECT_EQ(c.result["credentials"], "skip");
  EXPECT_EQ(c.result["gateway-probes"], "skip");
  // straitctl's own probe does not need strait-link.
  EXPECT_EQ(c.result["gateway-reachable"], "ok") << c.detail["gateway-reachable"];
  EXPECT_EQ(c.result["link-valid"], "ok");
  EXPECT_EQ(c.result["trust-bundle"], "ok") << c.detail["trust-bundle"];

  // --link-admin pointing at nothing.
  const std::string closed = "127.0.0.1:" + std::to_string(free_port());
  auto d = check_json({"--link-admin", closed});
  EXPECT_EQ(d.result["link-service"], "fail");
  EXPECT_NE(d.detail["link-service"].find("strait-link at " + closed), std::string::npos)
      << d.detail["link-service"];

  auto table = west_ctl({"multicluster", "gateways", "--link-admin", closed});
  EXPECT_EQ(table.exit_code, 1) << table.output;
  auto rows = table_rows(table.output, 5);
  ASSERT_GE(rows.size(), 2u) << table.output;
  EXPECT_EQ(rows[1], (std::vector<std::string>{"east", "unknown", "0", "-", "-"}));
}

TEST_F(MulticlusterCliTest, UnlinkSpeaksJson) {
  ASSERT_NO_FATAL_FAILURE(healthy(2));
  // Stop strait-link first: it would otherwise race the removal with repairs.
  ASSERT_EQ(link_->stop(), 0);
  int code = -1;
  auto out = west_json({"multicluster", "unlink", "--cluster-name", "east"}, &code);
  ASSERT_EQ(code, 0);
  ASSERT_TRUE(out.is_object());
  EXPECT_EQ(out.at("cluster"), "east");
  std::multiset<std::string> kinds;
  std::set<std::string> names;
  for (const auto& k : out.at("removed").as_array()) {
    kinds.insert(std::string(k.at("kind").as_string()));
    names.insert(std::string(k.at("name").as_string()));
  }
  // web-east and db-east with one endpoint each, and the Link.
  EXPECT_EQ(kinds.count("Service"), 2u);
  EXPECT_EQ(kinds.count("Endpoint"), 2u);
  EXPECT_EQ(kinds.count("Link"), 1u);
  EXPECT_TRUE(names.contains("web-east"));
  EXPECT_TRUE(names.contains("db-east"));

  auto none = west_ctl({"multicluster", "check"});
  EXPECT_EQ(none.exit_code, 0) << none.output;
  EXPECT_NE(none.output.find("no Links"), std::string::npos) << none.output;
  auto bad = west_ctl({"multicluster", "gateways", "-o", "yaml"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("unknown output format"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace strait::cli
