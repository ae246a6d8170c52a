// Mesh: one meshed cluster for end-to-end tests, built from the real binaries in harness pods.
//
//   east/ctrl    strait-controller (8080 identity, 8086 destination, 9990 admin); straitctl runs
//   here east/client  strait-init + strait-proxy as front/client (uid 2102); the "unmodified"
//   clients east/server  strait-init + strait-proxy as shop/web; testapp http :8080, echo :9000,
//   sink :9100 east/plain   no strait-init, no proxy: a stranger on the pod network
//
// Services (fixed virtual IPs): web 198.19.0.10:80 -> 8080 (endpoint registered by the server's
// proxy), echo 198.19.0.11:9000 and sink 198.19.0.12:9100 (Endpoint objects with the server's
// identity). Everything (processes, namespaces, the temporary directory) goes in the destructor,
// on failure too; the logs of every process are printed when the running test has failed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/result.h"
#include "harness/harness.h"
#include "tests/support/assert_ok.h"
#include "tests/support/metric_text.h"

namespace strait::sidecar_it {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

inline constexpr uid_t kProxyUid = 2102;
inline constexpr const char* kTrustDomain = "east.strait";
inline constexpr const char* kClientId = "spiffe://east.strait/ns/front/sa/client";
inline constexpr const char* kServerId = "spiffe://east.strait/ns/shop/sa/web";
inline constexpr const char* kWebVip = "198.19.0.10";   // :80 -> 8080 (http)
inline constexpr const char* kEchoVip = "198.19.0.11";  // :9000 -> 9000 (echo)
inline constexpr const char* kSinkVip = "198.19.0.12";  // :9100 -> 9100 (sink)

std::string build_path(const std::string& rel);
std::string testapp();

using ::strait::testing::metric_sum;  // tests/support/metric_text.h

// A TCP connection owned by the test (created inside a pod, so strait-init's rules apply to it).
class Conn {
 public:
  Conn() = default;
  explicit Conn(harness::UniqueFd fd) : fd_(std::move(fd)) {}
  bool valid() const { return static_cast<bool>(fd_); }
  bool send_all(const std::string& data);
  // Reads exactly n bytes within the timeout; "" with *ok=false on EOF, error or timeout.
  std::string read_n(std::size_t n, std::chrono::milliseconds timeout, bool* ok);
  // Reads until EOF (or error) or the timeout; *closed tells whether the peer closed.
  std::string read_to_end(std::chrono::milliseconds timeout, bool* closed);
  // Sends `msg` and expects it back.
  bool echo(const std::string& msg, std::chrono::milliseconds timeout = 5s);
  void close() { fd_.reset(); }

 private:
  harness::UniqueFd fd_;
};

struct MeshOptions {
  std::vector<std::string> controller_flags;    // e.g. "--identity.certLifetime=20s"
  std::vector<std::string> client_proxy_flags;  // e.g. "--timeouts.drain=20s"
  std::vector<std::string> server_proxy_flags;
  std::vector<std::uint16_t> server_extra_ports;  // workload.ports of the server beyond its three
};

class Mesh {
 public:
  Mesh() = default;
  ~Mesh();
  Mesh(const Mesh&) = delete;
  Mesh& operator=(const Mesh&) = delete;

  // Builds everything and waits until an unmodified client reaches web through the mesh.
  Result<void> up(MeshOptions options = {});

  harness::Harness& h() { return *h_; }
  const fs::path& dir() const { return dir_; }
  fs::path state_dir() const { return dir_ / "state"; }
  std::string ctrl_ip, client_ip, server_ip, plain_ip;

  // The controller (running in east/ctrl).
  Result<void> start_controller();
  harness::Process& controller() { return *controller_; }
  harness::Process& client_proxy() { return *client_proxy_; }
  harness::Process& server_proxy() { return *server_proxy_; }

  // straitctl in the controller pod, with --state-dir; the result (stdout) or an error with both
  // streams.
  Result<std::string> straitctl(std::vector<std::string> args);
  Result<void> apply(const std::string& yaml);

  // Runs argv in a pod (as root, so a client pod's rules redirect it). Never fails the test.
  harness::ExecResult run(const std::string& pod, const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = 15s);
  // curl -sS from a pod; the body, or an error.
  Result<std::string> curl(const std::string& pod, const std::string& url,
                           std::chrono::milliseconds timeout = 5s);
  // The proxy's /metrics of a pod ("client" or "server"), "" when unreachable.
  std::string metrics(const std::string& pod);
  double metric(const std::string& pod, const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
    return metric_sum(metrics(pod), name, labels);
  }
  // Polls until metric(pod, name, labels) >= at_least.
  bool wait_metric(const std::string& pod, const std::string& name,
                   const std::map<std::string, std::string>& labels, double at_least,
                   std::chrono::milliseconds deadline);

  // Another meshed pod (namespace shop, service account web, like the server), after up():
  // strait-init, its applications (each awaited on the port it listens on), its proxy. Returns
  // the pod's address. Endpoints for it are the test's to apply.
  struct PodApp {
    std::vector<std::string> argv;
    std::uint16_t port = 0;  // waited for on 127.0.0.1
    std::string name;        // log file: app-<pod>-<name>
  };
  // Every app's port is one of the proxy's workload.ports (policies known before /ready).
  Result<std::string> add_server_pod(const std::string& pod, const std::vector<PodApp>& apps);
  // Starts an application in an existing pod and waits for its port.
  Result<void> start_app(const std::string& pod, const PodApp& app);

  // A connection from a pod to "ip:port".
  Result<Conn> connect(const std::string& pod, const std::string& address,
                       std::chrono::milliseconds timeout = 5s);

  // Every log file and the pods' nat rules and listeners, for failure reports.
  std::string logs();
  std::string log_path(const std::string& name) const {
    return (dir_ / "logs" / (name + ".log")).string();
  }
  harness::SpawnOptions logged(const std::string& name) const;

 private:
  Result<void> start_proxy(const std::string& pod, const std::string& ns, const std::string& sa,
                           const std::string& extra_yaml, const std::vector<std::string>& flags);

  MeshOptions options_;
  fs::path dir_;
  std::unique_ptr<harness::Harness> h_;
  std::optional<harness::Process> controller_, client_proxy_, server_proxy_;
  std::map<std::string, harness::Process> extra_proxies_;  // add_server_pod's, by pod
};

// Base fixture: skips without root; the mesh's logs on failure.
class MeshTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::unique_ptr<Mesh> mesh_;
};

}  // namespace strait::sidecar_it
