// Gateway topology: pod networks are not routed between clusters; only the gateways (and the
// controllers' export and identity ports) are reachable on the shared segment. A client in west
// reaches web-east through east's gateway; the bytes between clusters are TLS 1.3 only; east's
// server proxy sees the gateway's identity, the gateway sees west's client.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/integration/multicluster/mc_env.h"

namespace strait::multicluster_it {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_F(MulticlusterTest, GatewayTopologyCarriesTrafficThroughTheGatewayInTlsOnly) {
  ASSERT_OK(up({"east", "west"}, Topology::gateway));
  ASSERT_OK(http_service("east", "web", "web", {{kExported, "true"}}));
  ASSERT_OK(m().link("west", "east"));
  auto east = m().cluster("east");
  ASSERT_OK(east);

  // The mirror: the gateway's address and identity, the remote service as authority.
  auto mirror = m().wait_service("west", "shop", "web-east", 1, 30s);
  ASSERT_OK(mirror);
  ASSERT_EQ(mirror->endpoints.size(), 1u);
  const auto& ep = mirror->endpoints[0];
  EXPECT_EQ(ep.address, east->gateway_wan_ip);
  EXPECT_EQ(ep.port, 4143);
  EXPECT_EQ(ep.identity, east->gateway_identity());
  EXPECT_EQ(ep.authority_override, "web.shop.svc.cluster.local");
  EXPECT_EQ(mirror->service.meta.labels.at("mirror.strait.dev/mirrored-service"), "true");
  EXPECT_EQ(mirror->service.meta.labels.at("mirror.strait.dev/cluster-name"), "east");
  EXPECT_FALSE(mirror->service.cluster_ip.empty());

  // The pod networks really are apart: west's router has no way to east's pods.
  auto web_pod = m().net().pod("east/web");
  ASSERT_OK(web_pod);
  auto direct = m().net().connect("west", web_pod->ip + ":4143", harness::deadline_in(3s));
  EXPECT_FALSE(direct.ok()) << "east's pod network is reachable from west";

  // Watch the shared segment while west's client talks to web-east.
  const std::string pcap = work_ + "/wan.pcapng";
  const std::string tshark_log = m().log_path("tshark");
  harness::SpawnOptions so;
  so.stdout_path = so.stderr_path = tshark_log;
  auto tshark = m().net().spawn("wan", {"tshark", "-n", "-i", "br0", "-f", "tcp", "-w", pcap}, so);
  ASSERT_OK(tshark);
  ASSERT_TRUE(harness::wait_until(
                  // dumpcap says "Capture started" once the interface is open; tshark's own
                  // "Capturing on" comes earlier, and a handshake sent then may be missed.
                  [&] { return slurp(tshark_log).find("Capture started") != std::string::npos; },
                  harness::deadline_in(20s))
                  .ok())
      << slurp(tshark_log);

  const std::string url = "http://" + mirror->service.cluster_ip + "/";
  std::string last;
  ASSERT_TRUE(curl_until("west/client", url, "hello from east-web", 30s, &last)) << last;
  // By name, as an application calls it: the client pod's resolver is west's DNS, whose
  // search list completes "web-east.shop" to the mirror's name.
  EXPECT_TRUE(curl_until("west/client", "http://web-east.shop/", "hello from east-web", 10s, &last))
      << last;
  const std::string marker = "STRAIT-CROSS-CLUSTER-MARKER-5d1e";
  auto with_marker = m().exec("west/client", {"curl", "-sS", "--max-time", "5", "-H",
                                              "X-Secret: " + marker, "-A", marker, url});
  EXPECT_TRUE(with_marker.success()) << with_marker.err;
  EXPECT_EQ(with_marker.out, "hello from east-web\n");

  // Until the capture holds the exchange (dumpcap writes in blocks).
  std::error_code ec;
  ASSERT_TRUE(harness::wait_until(
                  [&] {
                    (void)m().curl("west/client", url);
                    return std::filesystem::file_size(pcap, ec) > 4000 && !ec;
                  },
                  harness::deadline_in(20s), 300ms)
                  .ok());
  tshark->signal(SIGINT);
  ASSERT_OK(tshark->wait_exit(harness::deadline_in(20s)));

  const std::string raw = slurp(pcap);
  EXPECT_EQ(raw.find(marker), std::string::npos) << "the marker crossed the wan in clear";
  EXPECT_EQ(raw.find("hello from east-web"), std::string::npos)
      << "the response crossed the wan in clear";
  auto fields = [&](const std::string& filter, const std::string& field) {
    auto r = m().exec("wan",
                      {"tshark", "-n", "-r", pcap, "-d", "tcp.port==4143,tls", "-Y", filter, "-T",
                       "fields", "-e", field},
                      60s);
    EXPECT_TRUE(r.success()) << filter << ": " << r.err;
    return r.out;
  };
  // Every connection to the gateway negotiated TLS 1.3, and data went in encrypted records.
  const std::string hellos =
      fields("tcp.dstport == 4143 && tls.handshake.type == 1", "frame.number");
  const std::string versions = fields("tcp.srcport == 4143 && tls.handshake.type == 2",
                                      "tls.handshake.extensions.supported_version");
  EXPECT_FALSE(hellos.empty());
  std::istringstream vs(versions);
  int server_hellos = 0;
  for (std::string v; std::getline(vs, v);) {
    if (v.empty()) continue;
    ++server_hellos;
    EXPECT_EQ(v, "0x0304") << "a ServerHello selected something other than TLS 1.3";
  }
  EXPECT_GE(server_hellos, 1);  // requests share the pooled HTTP/2 connection to the gateway
  EXPECT_FALSE(fields("tls.record.opaque_type == 23", "frame.number").empty());
  // Nothing but the gateway port crossed between the clusters' pods (the capture filter took
  // all TCP; the controllers' ports carry only link traffic, also TLS).
  EXPECT_EQ(fields("tcp && !(tcp.port == 4143) && !(tcp.port == 8443) && !(tcp.port == 8080) && "
                   "!(tcp.port == 4191)",
                   "frame.number"),
            "");

  // Identities: east's server proxy sees the gateway; the gateway sees west's client.
  EXPECT_TRUE(wait_metric("east/web", "tcp_open_total",
                          {{"direction", "inbound"}, {"client_id", east->gateway_identity()}}, 1,
                          10s))
      << m().metrics("east/web");
  EXPECT_TRUE(wait_metric("east/gw", "tcp_open_total",
                          {{"direction", "gateway"}, {"client_id", client_id("west")}}, 1, 10s))
      << m().metrics("east/gw");
  // West's client proxy labelled the traffic with the target cluster.
  EXPECT_GE(metric("west/client", "tcp_open_total",
                   {{"direction", "outbound"},
                    {"target_cluster", "east"},
                    {"target_service", "web"},
                    {"target_service_namespace", "shop"}}),
            1)
      << m().metrics("west/client");
}

// HTTP through the gateway: the client proxy's HTTP/2 session ends at east's gateway, which
// balances each request over web's two pods, appends its Forwarded element, and counts the
// requests with the client's identity and the target's labels.
TEST_F(MulticlusterTest, GatewayBalancesHttpPerRequestWithForwardedAndGoldenMetrics) {
  ASSERT_OK(up({"east", "west"}, Topology::gateway));
  ASSERT_OK(http_service("east", "web", "web", {{kExported, "true"}}));
  devmesh::WorkloadSpec second;
  second.cluster = "east";
  second.pod = "web2";
  second.ns = "shop";
  second.service_account = "web";  // the Service admits its own account
  second.app = devmesh::App::http;
  second.service = "web";
  ASSERT_OK(m().add_workload(second));
  ASSERT_OK(m().wait_service("east", "shop", "web", 2, 30s));
  ASSERT_OK(m().link("west", "east"));
  auto mirror = m().wait_service("west", "shop", "web-east", 1, 30s);
  ASSERT_OK(mirror);
  const std::string url = "http://" + mirror->service.cluster_ip + "/";
  ASSERT_TRUE(curl_until("west/client", url, "hello from east-", 30s));

  // 40 requests on one keep-alive connection from west's client reach both of east's pods.
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "30"};
  for (int i = 0; i < 40; ++i) argv.push_back(url);
  auto r = m().exec("west/client", argv, 40s);
  ASSERT_TRUE(r.success()) << r.err;
  int first = 0, second_pod = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    first += line == "hello from east-web";
    second_pod += line == "hello from east-web2";
  }
  EXPECT_EQ(first + second_pod, 40) << r.out;
  EXPECT_GT(first, 0) << r.out;
  EXPECT_GT(second_pod, 0) << r.out;

  // The application sees the gateway's Forwarded element: by the gateway, for the client
  // proxy's address.
  auto east = m().cluster("east");
  ASSERT_OK(east);
  auto headers = m().curl("west/client", "http://" + mirror->service.cluster_ip + "/headers");
  ASSERT_OK(headers);
  EXPECT_NE(headers->find("forwarded: by=" + east->gateway_wan_ip + ";for="), std::string::npos)
      << *headers;

  // A second service behind the same gateway address: its requests never ride the session the
  // gateway routes to web (the client's pool keys sessions by endpoint and target name).
  ASSERT_OK(http_service("east", "api", "api", {{kExported, "true"}}));
  auto api = m().wait_service("west", "shop", "api-east", 1, 30s);
  ASSERT_OK(api);
  auto both =
      m().exec("west/client",
               {"curl", "-sS", "--max-time", "10", url, "http://" + api->service.cluster_ip + "/",
                url, "http://" + api->service.cluster_ip + "/"},
               20s);
  ASSERT_TRUE(both.success()) << both.err;
  std::istringstream answers(both.out);
  std::vector<std::string> got;
  for (std::string line; std::getline(answers, line);) got.push_back(line);
  ASSERT_EQ(got.size(), 4u) << both.out;
  EXPECT_EQ(got[1], "hello from east-api") << both.out;
  EXPECT_EQ(got[3], "hello from east-api") << both.out;
  EXPECT_EQ(got[0].rfind("hello from east-web", 0), 0u) << both.out;

  EXPECT_TRUE(wait_metric("east/gw", "response_total",
                          {{"direction", "gateway"},
                           {"status_code", "200"},
                           {"classification", "success"},
                           {"client_id", client_id("west")},
                           {"target_cluster", "east"},
                           {"target_service", "web"},
                           {"target_service_namespace", "shop"}},
                          40, 10s))
      << m().metrics("east/gw");
}

}  // namespace
}  // namespace strait::multicluster_it
