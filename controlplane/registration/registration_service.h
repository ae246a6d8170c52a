// RegistrationService: a proxy registers its workload's endpoint over a bidi stream that is
// a lease. The identity comes from the caller's certificate (issued by this cluster: the
// listener's IssuerCheck), never from the request, and the cluster decides what it may claim:
// only a Service that admits its service account (Service.service_accounts, default the
// service's own name), only the stream's source address (unless registration.anyAddress admits
// the identity), under a name the controller derives, never replacing an object that is not
// this identity's own lease. The endpoint is removed when the stream ends, or when heartbeats
// stop for the lease time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/discovery/store.h"
#include "core/identity/spiffe_id.h"
#include "strait/registration.grpc.pb.h"

namespace strait::controlplane {

class RegistrationService final : public registration::v1::Registration::CallbackService {
 public:
  struct Settings {
    std::string cluster;
    std::chrono::seconds lease{5};
    // Identities that may register an address other than their stream's source.
    std::vector<identity::IdentityPattern> any_address;
  };
  struct Hooks {
    std::function<void(int)> leases_delta;            // +1 registered, -1 released
    std::function<void(const std::string&)> refused;  // by reason
  };

  RegistrationService(discovery::Store& store, Settings settings, Hooks hooks);
  ~RegistrationService() override;

  grpc::ServerBidiReactor<registration::v1::RegisterRequest, registration::v1::RegisterResponse>*
  Register(grpc::CallbackServerContext* context) override;

  // Ends every lease's stream at shutdown. Their endpoints are NOT removed: proxies would
  // otherwise be told that the workloads went away while only the controller did. Leased
  // endpoints are not persisted; after a restart the proxies register again.
  void close_all();

  class Lease;  // the reactor; defined in the .cc

 private:
  friend class Lease;
  void track(Lease* lease);
  void untrack(Lease* lease);
  void reap_loop();

  discovery::Store& store_;
  const Settings settings_;
  Hooks hooks_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<Lease*, std::chrono::steady_clock::time_point> deadlines_;
  bool stopping_ = false;
  std::atomic<bool> shutting_down_{false};
  std::thread reaper_;
};

}  // namespace strait::controlplane
