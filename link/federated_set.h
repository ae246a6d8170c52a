// FederatedSet: the `<svc>-federated` services of this cluster, shared by every link of the
// process. Each member cluster (the local one included, read from the local store) contributes
// its export; topologies::federated shapes the union; a member leaving removes only its own
// endpoints, and the last one leaving removes the service. The local cluster alone is enough (a
// clusterset of one: MCS names work before any Link). Beside each federated service its
// ServiceImport (KEP-1645), which names the service's virtual IP once the store allocated it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "core/base/result.h"
#include "link/local_store.h"
#include "topologies/mirror.h"

namespace strait::link {

class FederatedSet {
 public:
  using NsName = std::pair<std::string, std::string>;  // the member service (not the mirror)

  FederatedSet(LocalStore& store, std::string local_cluster);

  // A linked cluster's member (re)exported; `link` gives domain and excluded labels.
  Result<void> set_member(const NsName& service, const std::string& cluster,
                          const topologies::RemoteService& remote, const discovery::Link& link);
  Result<void> remove_member(const NsName& service, const std::string& cluster);
  // Every service of one cluster (its link was removed).
  Result<void> remove_cluster(const std::string& cluster);
  // Re-reads the local cluster's own members (Services labelled federated member or with a
  // ServiceExport, not mirrors, and their Endpoints) and updates the federated services they
  // belong to.
  Result<void> refresh_local();
  // Re-writes every federated service (repair).
  Result<void> reapply_all();

  // Keys of the objects written for `owner` ("link:<cluster>"): garbage collection keeps them.
  std::set<discovery::ObjectKey> keys_owned_by(const std::string& owner) const;
  std::size_t size() const { return members_.size(); }

 private:
  struct Member {
    topologies::RemoteService remote;
    std::int64_t first_seen = 0;
  };
  Result<void> write(const NsName& service, bool force);
  Result<std::string> read_virtual_ip(const discovery::ObjectKey& federated);

  LocalStore& store_;
  const std::string local_cluster_;
  std::map<NsName, std::map<std::string, Member>> members_;  // service -> cluster -> member
  std::map<NsName, discovery::Link> links_;                  // any link naming the service
  std::map<NsName, std::map<discovery::ObjectKey, discovery::Object>> written_;
  std::set<NsName> dirty_;
  std::map<NsName, std::string> virtual_ips_;  // of the federated services, once allocated
  std::int64_t next_seen_ = 1;
};

}  // namespace strait::link
