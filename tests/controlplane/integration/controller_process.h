// ControllerProcess: a real strait-controller for integration tests — a temporary state
// directory installed by install_state, the binary started with fork/exec on free ports, found
// through run/endpoints.json, stopped with SIGTERM (SIGKILL after a deadline) and restartable on
// the same state. Everything is torn down by the destructor, on failure too, and the process's
// log is printed when the running test has failed. Also: waiting on a condition with a deadline,
// admin and workload credentials, plain HTTP to the admin port, running straitctl.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/client/certify.h"
#include "controlplane/client/channel.h"
#include "core/base/result.h"
#include "core/discovery/model.h"
#include "strait/admin.grpc.pb.h"

namespace strait::controlplane::testing {

// Polls `condition` until it holds or `deadline` passes; true when it held.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
                std::chrono::milliseconds poll = std::chrono::milliseconds(10));

// A directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct ControllerOptions {
  std::string cluster = "east";
  std::string trust_domain = "east.strait";
  // Extra command-line overrides, e.g. "--registration.lease=2s".
  std::vector<std::string> flags;
};

struct ProcessResult {
  int exit_code = -1;  // -1: killed by a signal or did not finish in time
  std::string output;  // stdout and stderr, interleaved
};

// Runs a program to completion (stdin from /dev/null) with a deadline; killed after it.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds deadline);

// One HTTP/1.1 GET over a plain socket: status code and body (-1 on transport failure).
struct HttpResponse {
  int status = -1;
  std::string headers;
  std::string body;
};
HttpResponse http_get(std::uint16_t port, const std::string& path,
                      std::chrono::milliseconds deadline = std::chrono::seconds(5));

// The value of a Prometheus sample (name with its labels exactly as exposed, e.g.
// `identity_certificates_refused_total{reason="expired_token"}`), or -1 when absent.
double metric_value(const std::string& exposition, const std::string& sample);

class ControllerProcess {
 public:
  static std::string controller_binary();
  static std::string straitctl_binary();

  explicit ControllerProcess(ControllerOptions options = {});
  // stop(), print the log if the test failed (or STRAIT_TEST_PRINT_LOG is set), remove the state
  // dir
  ~ControllerProcess();
  ControllerProcess(const ControllerProcess&) = delete;
  ControllerProcess& operator=(const ControllerProcess&) = delete;

  // install_state into a fresh temporary directory, listening on 127.0.0.1:0 everywhere.
  Result<void> install();
  // Spawns the controller and waits (deadline) for the endpoints.json of this very process.
  Result<void> start(std::chrono::milliseconds deadline = std::chrono::seconds(30));
  // SIGTERM, then SIGKILL when it has not exited within `grace`. The exit code (-1 when it was
  // killed or died on a signal).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // SIGKILL: a crash, no chance to clean up.
  void kill();
  Result<void> restart() {
    stop();
    return start();
  }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  const std::filesystem::path& state_dir() const { return state_dir_; }
  const ControllerOptions& options() const { return options_; }
  const std::string& identity_address() const { return identity_address_; }
  const std::string& destination_address() const { return destination_address_; }
  const std::string& export_address() const { return export_address_; }
  const std::string& dns_address() const { return dns_address_; }  // "127.0.0.1:<port>"
  std::uint16_t admin_port() const { return admin_port_; }
  std::string log() const;  // everything the process wrote so far (all runs)

  std::string anchor_pem() const;
  // A fresh certificate for the admin identity spiffe://<td>/ns/strait-system/sa/straitctl,
  // signed with the issuer of the state directory (as straitctl does).
  ClientCredentials admin_credentials() const;
  // Credentials for spiffe://<td>/ns/<ns>/sa/<sa> from ANOTHER issuer under this cluster's trust
  // anchor: what a second cluster sharing the anchor would issue. The handshake accepts them.
  ClientCredentials sibling_issuer_credentials(const std::string& ns, const std::string& sa) const;
  std::unique_ptr<admin::v1::Admin::Stub> admin() const;
  std::shared_ptr<grpc::Channel> channel(const ClientCredentials& credentials) const;

  // Admin API shortcuts. Errors carry the gRPC status code name and message.
  Result<std::vector<discovery::Object>> apply(const std::vector<discovery::Object>& objects) const;
  Result<std::vector<discovery::Object>> list(discovery::Kind kind,
                                              const std::string& ns = "") const;
  Result<void> remove(discovery::Kind kind, const std::string& ns, const std::string& name) const;
  Result<std::string> issue_token(const std::string& ns, const std::string& sa,
                                  std::chrono::seconds ttl = std::chrono::seconds(600)) const;
  // Token from the admin API, then Certify: a workload's credentials.
  Result<WorkloadCredentials> certify_workload(const std::string& ns, const std::string& sa) const;
  static ClientCredentials credentials_of(const WorkloadCredentials& w, const std::string& anchor);

  HttpResponse get(const std::string& path) const { return http_get(admin_port_, path); }

 private:
  Result<void> read_endpoints();

  ControllerOptions options_;
  TempDir dir_;
  std::filesystem::path state_dir_;
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  std::string identity_address_;
  std::string destination_address_;
  std::string export_address_;
  std::string dns_address_;
  std::uint16_t admin_port_ = 0;
};

}  // namespace strait::controlplane::testing
