// LinkCredentials: the client certificate this cluster presents to a target cluster
// (spiffe://<target-td>/ns/strait-multicluster/sa/link-<this-cluster>). Obtained once with the
// Link's single-use token, renewed at 70 % of its lifetime with the current certificate, and
// kept under <state-dir>/links/<link>/ (key and chain, 0600) so that a restart needs no token.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "controlplane/client/certify.h"
#include "core/base/result.h"
#include "core/discovery/model.h"
#include "core/identity/spiffe_id.h"

namespace strait::link {

class LinkCredentials {
 public:
  LinkCredentials(std::filesystem::path dir, std::string local_cluster);

  // What fetch() brings back, for adopt() on the owner's thread.
  struct Fetched {
    controlplane::WorkloadCredentials credentials;
    std::chrono::system_clock::time_point received;  // renewal counts from here
  };
  // Blocking (network, files in `dir` only): for a worker thread. Without `current`: the
  // persisted credentials if still valid for `link`, else the token exchanged; with it, a renewal.
  static Result<Fetched> fetch(const std::filesystem::path& dir, const discovery::Link& link,
                               const std::string& local_cluster,
                               const std::optional<controlplane::WorkloadCredentials>& current,
                               std::chrono::milliseconds timeout);
  void adopt(Fetched fetched);
  std::optional<controlplane::WorkloadCredentials> current_if_valid() const {
    return valid() ? current_ : std::nullopt;
  }

  // The persisted credentials when they are still valid for `link`; otherwise the link token is
  // exchanged. Errors: the identity service's (unauthenticated with reused_token or
  // expired_token in the message, unavailable, ...), no_token, invalid_link.
  Result<void> obtain(const discovery::Link& link, std::chrono::milliseconds timeout);
  // With the current certificate instead of the token.
  Result<void> renew(const discovery::Link& link, std::chrono::milliseconds timeout);

  bool valid(std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;
  const controlplane::WorkloadCredentials& current() const { return *current_; }
  // 70 % into the lifetime it had left when we got it (a fresh certificate: its lifetime;
  // not_before is backdated for clock skew, so it is not the start).
  std::chrono::system_clock::time_point renew_at() const;
  const std::filesystem::path& dir() const { return dir_; }

  static Result<identity::SpiffeId> identity_for(const discovery::Link& link,
                                                 const std::string& local_cluster);

 private:
  static Result<Fetched> load(const std::filesystem::path& dir, const discovery::Link& link,
                              const std::string& local_cluster);
  static Result<void> store(const std::filesystem::path& dir,
                            const controlplane::WorkloadCredentials& creds);

  std::filesystem::path dir_;
  std::string local_cluster_;
  std::optional<controlplane::WorkloadCredentials> current_;
  std::chrono::system_clock::time_point received_{};
};

}  // namespace strait::link
