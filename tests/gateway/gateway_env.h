// GatewayEnv: one cluster on loopback for strait-gateway integration tests — a real
// strait-controller (installed with install_state in a temporary directory), a strait-testapp
// echo server behind a real strait-proxy (the target's proxy, on the cluster's inbound proxy
// port), and strait-gateway, all as processes on 127.0.0.1 with free ports. Plus the remote
// client: TLS (core/tls) to the gateway, a transport header, then bytes. Everything is stopped
// and removed by the destructor, on failure too; the processes die with the test binary.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "core/base/result.h"
#include "core/tls/tls_context.h"
#include "core/tls/tls_stream.h"
#include "sidecar/proxy/transport_header.h"
#include "tests/support/metric_text.h"

namespace strait::gateway_it {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline constexpr const char* kTrustDomain = "east.strait";
inline constexpr const char* kCluster = "east";
inline constexpr const char* kGatewayId =
    "spiffe://east.strait/ns/strait-multicluster/sa/strait-gateway";
inline constexpr const char* kTargetId = "spiffe://east.strait/ns/shop/sa/echo";
inline constexpr const char* kClientId = "spiffe://east.strait/ns/remote/sa/client";
inline constexpr std::uint16_t kEchoServicePort = 80;  // echo.shop: 80 -> the echo app's port

// Polls until `condition` holds; false when `deadline` passed first.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
                std::chrono::milliseconds poll = 20ms);

using ::strait::testing::metric_sum;  // tests/support/metric_text.h

// Plain HTTP GET on 127.0.0.1:port (a proxy's admin): the status (-1 on failure) and the body.
std::pair<int, std::string> plain_get(std::uint16_t port, const std::string& path);

// A child process: stdout and stderr to a log file; SIGTERM then SIGKILL on stop().
class Process {
 public:
  Process() = default;
  ~Process() { stop(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  Result<void> start(std::vector<std::string> argv, fs::path log);
  void stop(std::chrono::milliseconds grace = 5s);
  // True while the process has not exited (reaps it when it has).
  bool alive();
  pid_t pid() const { return pid_; }
  std::string log() const;
  const fs::path& log_path() const { return log_; }
  // Waits for a log line containing `marker`; the number right after it (key empty) or the
  // number of `key=N` on that line (logfmt).
  Result<std::string> wait_log(const std::string& marker, const std::string& key,
                               std::chrono::milliseconds deadline);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  fs::path log_;
};

// A TCP connection from the test, with blocking I/O bounded by timeouts.
class PlainConn {
 public:
  static Result<PlainConn> connect(std::uint16_t port, std::chrono::milliseconds timeout = 5s);
  PlainConn(PlainConn&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ~PlainConn();
  bool send_all(const std::string& data);
  // Reads until EOF or error (closed=true) or the timeout (closed=false).
  std::string read_to_end(std::chrono::milliseconds timeout, bool* closed);

 private:
  explicit PlainConn(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// The remote client: TLS over core/tls (TlsStream), driven synchronously on its own io_context.
class TlsConn {
 public:
  // Connects to 127.0.0.1:port and completes the handshake (client side) within the timeout.
  static Result<std::unique_ptr<TlsConn>> connect(std::uint16_t port, tls::ContextPtr context,
                                                  std::chrono::milliseconds timeout = 5s);
  ~TlsConn();
  bool send_all(const std::string& data, std::chrono::milliseconds timeout = 5s);
  // Exactly n bytes, or nullopt on EOF, error or timeout.
  std::optional<std::string> read_n(std::size_t n, std::chrono::milliseconds timeout);
  // Until the peer ends the stream (closed=true, cleanly or not) or the timeout (closed=false).
  std::string read_to_end(std::chrono::milliseconds timeout, bool* closed);
  bool shutdown_write(std::chrono::milliseconds timeout = 5s);
  // Sends `msg`, expects it back.
  bool echo(const std::string& msg, std::chrono::milliseconds timeout = 5s);

 private:
  TlsConn() = default;
  boost::asio::io_context io_;
  std::unique_ptr<tls::TlsStream> stream_;
};

// Client TLS contexts trusting the cluster's anchor.
struct ClientContexts {
  tls::ContextPtr with_client_cert;  // kClientId, certified by the controller
  tls::ContextPtr without_cert;      // no client certificate
  tls::ContextPtr foreign_cert;      // kClientId-shaped identity from an unrelated root
};

class GatewayEnv {
 public:
  GatewayEnv() = default;
  ~GatewayEnv();
  GatewayEnv(const GatewayEnv&) = delete;
  GatewayEnv& operator=(const GatewayEnv&) = delete;

  // Everything up: controller, objects, echo app, target proxy, gateway with its certificate.
  Result<void> up();

  Result<std::string> straitctl(std::vector<std::string> args);
  Result<void> apply(const std::string& yaml);

  std::uint16_t gateway_port = 0, gateway_admin_port = 0;
  std::uint16_t echo_port = 0, target_proxy_port = 0, target_admin_port = 0;
  std::string identity_address, destination_address;
  ClientContexts contexts;

  // The remote client: TLS to the gateway (context: contexts.with_client_cert unless given),
  // a transport header {target_port, target_name}.
  Result<std::unique_ptr<TlsConn>> open(const std::string& target_name,
                                        std::uint16_t target_port = kEchoServicePort,
                                        tls::ContextPtr context = nullptr);
  // mTLS to any of the environment's ports (the gateway's, the target proxy's inbound) with
  // `header` first: what any mesh client can send.
  Result<std::unique_ptr<TlsConn>> open_with_header(std::uint16_t port,
                                                    const proxy::TransportHeader& header,
                                                    tls::ContextPtr context = nullptr);
  static std::string echo_name(std::uint16_t port = kEchoServicePort) {
    return "echo.shop.svc.cluster.local:" + std::to_string(port);
  }

  // HTTPS GET on the gateway's admin port (or `port`), no client certificate: status (-1 on
  // failure), body.
  std::pair<int, std::string> https_get(const std::string& path,
                                        std::chrono::milliseconds timeout = 5s,
                                        std::uint16_t port = 0);
  std::string gateway_metrics() { return https_get("/metrics").second; }
  // The target proxy's plain HTTP admin.
  std::string target_metrics();
  double gateway_refused(const std::string& reason) {
    return std::max(0.0, metric_sum(gateway_metrics(), "proxy_refused_total",
                                    {{"direction", "gateway"}, {"reason", reason}}));
  }

  Process& gateway() { return gateway_; }
  // Another strait-gateway of this cluster (log and config named after `name`): its gateway and
  // admin ports once it serves.
  // `flags` are added to its command line (e.g. "--timeouts.outboundConnect=4s").
  Result<std::pair<std::uint16_t, std::uint16_t>> start_gateway(
      Process& p, const std::string& name, const std::string& token_file,
      const std::vector<std::string>& flags = {});
  Result<std::string> write_token(const std::string& ns, const std::string& sa);
  std::string logs() const;
  const fs::path& dir() const { return dir_; }

 private:
  Result<void> up_once();
  void down();  // stops every process and removes the directory
  Result<void> start_controller();
  std::string proxy_yaml(const std::string& ns, const std::string& sa, const std::string& token,
                         const std::string& inbound) const;
  Result<void> make_contexts();

  fs::path dir_;
  Process controller_, echo_, target_proxy_, gateway_;
};

}  // namespace strait::gateway_it
