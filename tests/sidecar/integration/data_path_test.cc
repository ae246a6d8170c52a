// The data path end to end: unmodified clients reach services by their virtual IPs through two
// proxies; the wire between the pods carries only TLS 1.3; both proxies' metrics name the peers
// and pass promtool.
#include <csignal>
#include <fstream>
#include <sstream>

#include "tests/sidecar/integration/mesh.h"

namespace strait::sidecar_it {
namespace {

using harness::deadline_in;

constexpr std::size_t k100MB = 100ull * 1024 * 1024;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t count_lines(const std::string& s) {
  std::size_t n = 0;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) n += !line.empty();
  return n;
}

class DataPathTest : public MeshTest {};

TEST_F(DataPathTest, UnmodifiedClientsReachServicesThroughMutualTls) {
  ASSERT_OK(mesh_->up());
  auto& m = *mesh_;

  // HTTP by the service's virtual IP and port (80 -> targetPort 8080, registered endpoint).
  auto body = m.curl("client", std::string("http://") + kWebVip + "/");
  ASSERT_OK(body);
  EXPECT_EQ(*body, "hello from server\n");

  // Plain TCP echo (service port 9000, Endpoint object).
  auto echo =
      m.run("client", {testapp(), "echo-client", "--connect", std::string(kEchoVip) + ":9000",
                       "--message", "ping through the mesh"});
  EXPECT_TRUE(echo.success()) << echo.status.to_string() << " " << echo.out << echo.err;

  // 100 MB one way; the sink's SHA-256 must equal the source's.
  auto big = m.run("client",
                   {testapp(), "source", "--connect", std::string(kSinkVip) + ":9100", "--bytes",
                    std::to_string(k100MB), "--seed", "42", "--expect-match"},
                   150s);
  EXPECT_TRUE(big.success()) << big.status.to_string() << " " << big.out << big.err;
  ASSERT_GE(big.out.size(), 64u);
  EXPECT_NE(big.err.find("sent=" + big.out.substr(0, 64)), std::string::npos) << big.out << big.err;

  // The server's proxy saw the client's verified identity; the client's proxy the server's.
  EXPECT_TRUE(m.wait_metric("server", "tcp_open_total",
                            {{"direction", "inbound"}, {"tls", "true"}, {"client_id", kClientId}},
                            3, 10s))
      << m.metrics("server");
  EXPECT_TRUE(m.wait_metric("client", "tcp_open_total",
                            {{"direction", "outbound"}, {"tls", "true"}, {"server_id", kServerId}},
                            3, 10s))
      << m.metrics("client");
  EXPECT_GE(
      m.metric("client", "tcp_open_total",
               {{"direction", "outbound"}, {"dst_service", "sink"}, {"dst_namespace", "shop"}}),
      1);
  // Every byte of the transfer went through the client's proxy and arrived at the server's.
  EXPECT_GE(m.metric("client", "tcp_read_bytes_total",
                     {{"direction", "outbound"}, {"dst_service", "sink"}}),
            static_cast<double>(k100MB));
  EXPECT_GE(m.metric("server", "tcp_read_bytes_total",
                     {{"direction", "inbound"}, {"client_id", kClientId}}),
            static_cast<double>(k100MB));
  // And nothing took a plaintext path.
  EXPECT_LE(m.metric("client", "tcp_open_total", {{"direction", "outbound"}, {"tls", "false"}}), 0);
}

TEST_F(DataPathTest, WireBetweenPodsCarriesOnlyTls13) {
  ASSERT_OK(mesh_->up());
  auto& m = *mesh_;
  const std::string pcap = (m.dir() / "wire.pcapng").string();
  const std::string log = m.log_path("tshark");
  // Capture in the server pod, on its only link: everything between the two proxies.
  auto o = m.logged("tshark");
  auto tshark = m.h().spawn("east/server",
                            {"tshark", "-n", "-i", "eth0", "-f", "tcp port 4143", "-w", pcap}, o);
  ASSERT_OK(tshark);
  ASSERT_TRUE(
      harness::wait_until([&] { return slurp(log).find("Capturing on") != std::string::npos; },
                          deadline_in(20s))
          .ok())
      << slurp(log);

  // "Capturing on" comes before dumpcap really captures: warm up until a request shows in the file.
  std::error_code ec;
  const auto empty_size = fs::file_size(pcap, ec);
  ASSERT_TRUE(harness::wait_until(
                  [&] {
                    (void)m.curl("client", std::string("http://") + kWebVip + "/");
                    return fs::file_size(pcap, ec) > empty_size + 1000 && !ec;
                  },
                  deadline_in(20s), 200ms)
                  .ok());

  const std::string marker = "STRAIT-SECRET-MARKER-7f3a9c";
  std::string message;
  for (int i = 0; i < 20; ++i) message += marker + "-" + std::to_string(i) + " ";
  auto echo = m.run("client", {testapp(), "echo-client", "--connect",
                               std::string(kEchoVip) + ":9000", "--message", message});
  EXPECT_TRUE(echo.success()) << echo.out << echo.err;
  // The marker also in an HTTP request header.
  auto with_header = m.run("client", {"curl", "-sS", "--max-time", "5", "-H", "X-Secret: " + marker,
                                      std::string("http://") + kWebVip + "/"});
  EXPECT_TRUE(with_header.success()) << with_header.err;
  EXPECT_EQ(with_header.out, "hello from server\n");
  auto bulk = m.run("client", {testapp(), "source", "--connect", std::string(kSinkVip) + ":9100",
                               "--bytes", "1048576", "--expect-match"});
  EXPECT_TRUE(bulk.success()) << bulk.out << bulk.err;

  // Stop the capture once it has written the whole transfer (dumpcap lags behind the wire, and
  // what it has not read when SIGINT arrives is lost), then read it back.
  EXPECT_TRUE(
      harness::wait_until([&] { return fs::file_size(pcap, ec) > 1024 * 1024 + 8 * 1024 && !ec; },
                          deadline_in(20s))
          .ok())
      << "the capture stayed at " << fs::file_size(pcap, ec) << " bytes";
  tshark->signal(SIGINT);
  auto st = tshark->wait_exit(deadline_in(20s));
  ASSERT_OK(st);

  const std::string raw = slurp(pcap);
  ASSERT_GT(raw.size(), 1024u * 1024u) << "the capture missed the 1 MiB transfer";
  EXPECT_EQ(raw.find(marker), std::string::npos) << "the marker crossed the wire in clear";
  EXPECT_EQ(raw.find("hello from server"), std::string::npos)
      << "the response crossed the wire in clear";

  auto fields = [&](const std::string& filter, const std::string& field) {
    auto r = m.run("server",
                   {"tshark", "-n", "-r", pcap, "-d", "tcp.port==4143,tls", "-Y", filter, "-T",
                    "fields", "-e", field},
                   60s);
    EXPECT_TRUE(r.success()) << filter << ": " << r.err;
    return r.out;
  };
  // Connections for echo and source, each new; each negotiated TLS 1.3. (curl's requests travel
  // on the pooled HTTP/2 connection to the server's proxy, which may predate the capture.)
  const std::string client_hellos = fields("tls.handshake.type == 1", "frame.number");
  const std::string server_versions =
      fields("tls.handshake.type == 2", "tls.handshake.extensions.supported_version");
  EXPECT_GE(count_lines(client_hellos), 2u);
  EXPECT_EQ(count_lines(server_versions), count_lines(client_hellos)) << server_versions;
  std::istringstream versions(server_versions);
  std::string v;
  while (std::getline(versions, v)) {
    if (!v.empty()) {
      EXPECT_EQ(v, "0x0304") << "a ServerHello selected something other than TLS 1.3";
    }
  }
  // The payload travelled in encrypted records (TLS 1.3 shows them as opaque type 23).
  EXPECT_GT(count_lines(fields("tls.record.opaque_type == 23", "frame.number")), 10u);
  // Past the ClientHello (legacy 0x0301), every record carries 0x0303, as TLS 1.3 requires.
  EXPECT_EQ(count_lines(fields("tls.record.version != 0x0303 && !(tls.handshake.type == 1)",
                               "frame.number")),
            0u);
}

TEST_F(DataPathTest, PromtoolAcceptsBothProxiesMetrics) {
  ASSERT_OK(mesh_->up());
  auto& m = *mesh_;
  // Some traffic, so that every family has samples (inbound and outbound, allow and a deny).
  auto echo = m.run("client", {testapp(), "echo-client", "--connect",
                               std::string(kEchoVip) + ":9000", "--message", "metrics"});
  EXPECT_TRUE(echo.success()) << echo.err;
  auto stranger = m.connect("plain", m.server_ip + ":8080");
  ASSERT_OK(stranger);
  bool closed = false;
  stranger->send_all("GET / HTTP/1.0\r\n\r\n");
  stranger->read_to_end(5s, &closed);
  for (const char* pod : {"client", "server"}) {
    std::string text = m.metrics(pod);
    ASSERT_FALSE(text.empty()) << pod;
    EXPECT_NE(text.find("# TYPE tcp_open_total counter"), std::string::npos) << text;
    auto r = m.run(
        pod, {"sh", "-c", strait::testing::promtool_check_command("http://127.0.0.1:4191/metrics")},
        30s);
    EXPECT_TRUE(r.success()) << pod << ": " << r.status.to_string() << "\n"
                             << r.out << r.err << "\n"
                             << text;
  }
}

}  // namespace
}  // namespace strait::sidecar_it
