// LocalStore: the seam between strait-link and the local cluster's discovery store. The real one
// speaks the controller's admin API (AdminLocalStore); tests use an in-memory fake. Errors carry
// the gRPC status name ("unavailable", "not_found", ...): retryable() says which are worth a retry.
#pragma once

#include <array>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "core/discovery/model.h"
#include "strait/admin.grpc.pb.h"

namespace strait::link {

// The kinds strait-link writes (mirrors, federated services and their ServiceImports), in the
// order their removal keeps the store consistent: endpoints before the services they back.
inline constexpr std::array<discovery::Kind, 3> kWrittenKinds = {
    discovery::Kind::kEndpoint, discovery::Kind::kServiceImport, discovery::Kind::kService};

class LocalStore {
 public:
  virtual ~LocalStore() = default;
  // Writes the objects (all or, on error, possibly a prefix of them).
  virtual Result<void> apply(const std::vector<discovery::Object>& objects) = 0;
  // Removing what is already gone succeeds.
  virtual Result<void> remove(const discovery::ObjectKey& key) = 0;
  // Every object of a kind; `ns` empty: all namespaces.
  virtual Result<std::vector<discovery::Object>> list(discovery::Kind kind,
                                                      const std::string& ns = "") = 0;
};
using LocalStorePtr = std::unique_ptr<LocalStore>;

// Failures of the environment that a later attempt may not see (the controller restarting, a
// deadline); refusals (invalid_argument, permission_denied) are not.
bool retryable(const Error& error);

// The admin API of the local controller, each call with a deadline.
class AdminLocalStore final : public LocalStore {
 public:
  AdminLocalStore(std::unique_ptr<admin::v1::Admin::Stub> stub,
                  std::chrono::milliseconds deadline = std::chrono::seconds(5));
  Result<void> apply(const std::vector<discovery::Object>& objects) override;
  Result<void> remove(const discovery::ObjectKey& key) override;
  Result<std::vector<discovery::Object>> list(discovery::Kind kind, const std::string& ns) override;

 private:
  std::unique_ptr<admin::v1::Admin::Stub> stub_;
  std::chrono::milliseconds deadline_;
};

// The local controller found through its state directory (controlplane::access_from_state_dir).
// The admin certificate it mints lasts an hour and a restarted controller may listen on new
// ports, so access is renewed every `refresh` and after a call fails as unavailable.
class StateDirLocalStore final : public LocalStore {
 public:
  explicit StateDirLocalStore(std::filesystem::path state_dir,
                              std::chrono::milliseconds refresh = std::chrono::minutes(30));
  // Reaches the controller now (errors: no_controller, controller_not_running, invalid_state).
  Result<void> connect();
  const std::string& cluster() const { return cluster_; }
  const std::string& trust_domain() const { return trust_domain_; }

  Result<void> apply(const std::vector<discovery::Object>& objects) override;
  Result<void> remove(const discovery::ObjectKey& key) override;
  Result<std::vector<discovery::Object>> list(discovery::Kind kind, const std::string& ns) override;

 private:
  Result<AdminLocalStore*> current();
  template <typename R>
  R after(R result);

  std::filesystem::path state_dir_;
  std::chrono::milliseconds refresh_;
  std::unique_ptr<AdminLocalStore> inner_;
  std::chrono::steady_clock::time_point made_{};
  bool stale_ = false;
  std::string cluster_, trust_domain_;
};

}  // namespace strait::link
