// FederatedSet: member bookkeeping and the writes of `<svc>-federated`.
#include "link/federated_set.h"

#include <algorithm>

#include "topologies/labels.h"

namespace strait::link {
using discovery::Object;
using discovery::ObjectKey;

FederatedSet::FederatedSet(LocalStore& store, std::string local_cluster)
    : store_(store), local_cluster_(std::move(local_cluster)) {}

Result<void> FederatedSet::set_member(const NsName& service, const std::string& cluster,
                                      const topologies::RemoteService& remote,
                                      const discovery::Link& link) {
  auto& m = members_[service];
  auto it = m.find(cluster);
  if (it == m.end()) {
    m[cluster] = Member{remote, next_seen_++};
  } else {
    it->second.remote = remote;
  }
  links_[service] = link;
  return write(service, false);
}

Result<void> FederatedSet::remove_member(const NsName& service, const std::string& cluster) {
  auto it = members_.find(service);
  if (it == members_.end() || !it->second.contains(cluster)) {
    return dirty_.contains(service) ? write(service, false) : Result<void>();
  }
  it->second.erase(cluster);
  return write(service, false);
}

Result<void> FederatedSet::remove_cluster(const std::string& cluster) {
  Result<void> result;
  std::vector<NsName> touched;
  for (auto& [svc, m] : members_) {
    if (m.erase(cluster)) touched.push_back(svc);
  }
  for (const auto& svc : touched) {
    if (auto r = write(svc, false); !r && result) result = r;
  }
  return result;
}

Result<void> FederatedSet::refresh_local() {
  auto services = store_.list(discovery::Kind::kService);
  if (!services) return services.error();
  auto endpoints = store_.list(discovery::Kind::kEndpoint);
  if (!endpoints) return endpoints.error();
  auto exports = store_.list(discovery::Kind::kServiceExport);
  if (!exports) return exports.error();
  std::set<NsName> exported;
  for (const auto& o : *exports)
    exported.insert({discovery::meta_of(o).ns, discovery::meta_of(o).name});
  std::map<NsName, topologies::RemoteService> local;
  for (const auto& o : *services) {
    const auto& s = std::get<discovery::Service>(o);
    if (s.meta.owner.rfind("link:", 0) == 0) continue;  // mirrors are not members
    if (exported.contains({s.meta.ns, s.meta.name})) {
      local[{s.meta.ns, s.meta.name}].service = topologies::as_service_export(s);
    } else if (topologies::is_federated_member(s.meta.labels)) {
      local[{s.meta.ns, s.meta.name}].service = s;
    }
  }
  for (const auto& o : *endpoints) {
    const auto& e = std::get<discovery::Endpoint>(o);
    auto it = local.find({e.meta.ns, e.service});
    if (it != local.end() && e.ready && e.meta.owner.rfind("link:", 0) != 0) {
      it->second.endpoints.push_back(e);
    }
  }
  Result<void> result;
  // Members that left.
  std::vector<NsName> gone;
  for (const auto& [svc, m] : members_) {
    if (m.contains(local_cluster_) && !local.contains(svc)) gone.push_back(svc);
  }
  for (const auto& svc : gone) {
    if (auto r = remove_member(svc, local_cluster_); !r && result) result = r;
  }
  for (auto& [svc, remote] : local) {
    auto& m = members_[svc];
    auto it = m.find(local_cluster_);
    if (it == m.end()) {
      m[local_cluster_] = Member{std::move(remote), next_seen_++};
    } else {
      it->second.remote = std::move(remote);
    }
    if (auto r = write(svc, false); !r && result) result = r;
  }
  return result;
}

Result<void> FederatedSet::reapply_all() {
  Result<void> result;
  std::set<NsName> all;
  for (const auto& [svc, m] : members_) all.insert(svc);
  for (const auto& svc : dirty_) all.insert(svc);
  for (const auto& svc : all) {
    if (auto r = write(svc, true); !r && result) result = r;
  }
  return result;
}

std::set<ObjectKey> FederatedSet::keys_owned_by(const std::string& owner) const {
  std::set<ObjectKey> out;
  for (const auto& [svc, objs] : written_) {
    for (const auto& [key, o] : objs) {
      if (discovery::meta_of(o).owner == owner) out.insert(key);
    }
  }
  return out;
}

// The virtual IP the store gave a federated service ("" while it has none).
Result<std::string> FederatedSet::read_virtual_ip(const ObjectKey& federated) {
  auto services = store_.list(discovery::Kind::kService, federated.ns);
  if (!services) return services.error();
  for (const auto& o : *services) {
    const auto& s = std::get<discovery::Service>(o);
    if (s.meta.name == federated.name && !discovery::is_headless(s)) return s.cluster_ip;
  }
  return std::string();
}

Result<void> FederatedSet::write(const NsName& service, bool force) {
  std::map<ObjectKey, Object> desired;
  ObjectKey federated_key, import_key;  // when there is a federated service
  bool needs_ip = false;
  auto mit = members_.find(service);
  // Any member makes the federated service and its import, the local cluster alone too: an MCS
  // clusterset of one cluster still has <svc>.<ns>.svc.clusterset.local.
  const bool any_member = mit != members_.end() && !mit->second.empty();
  if (any_member) {
    std::vector<topologies::FederatedMember> members;
    for (const auto& [cluster, m] : mit->second) {
      members.push_back({cluster, m.remote, m.first_seen});
    }
    auto lit = links_.find(service);
    auto mirror = topologies::federated(members, lit == links_.end() ? nullptr : &lit->second,
                                        local_cluster_);
    federated_key = discovery::key_of(mirror.service);
    desired.emplace(federated_key, mirror.service);
    for (auto& e : mirror.endpoints) desired.emplace(discovery::key_of(e), std::move(e));
    auto vip = virtual_ips_.find(service);
    auto import = topologies::service_import(
        members, local_cluster_, vip == virtual_ips_.end() ? std::string() : vip->second);
    needs_ip = import.type == "ClusterSetIP" && import.ips.empty();
    import_key = discovery::key_of(import);
    desired.emplace(import_key, std::move(import));
  }
  auto& written = written_[service];
  std::vector<Object> to_apply;
  for (const auto& [key, o] : desired) {
    auto w = written.find(key);
    if (force || w == written.end() || !(w->second == o)) to_apply.push_back(o);
  }
  dirty_.insert(service);
  if (auto r = store_.apply(to_apply); !r) return r;
  for (const auto& o : to_apply) written[discovery::key_of(o)] = o;
  if (needs_ip) {
    // The import names the clusterset IP: the federated service's, allocated by the store
    // when it was first written just now.
    auto vip = read_virtual_ip(federated_key);
    if (!vip) return vip.error();
    if (!vip->empty()) {
      virtual_ips_[service] = *vip;
      auto& import = std::get<discovery::ServiceImport>(desired.at(import_key));
      import.ips = {*vip};
      if (auto r = store_.apply({import}); !r) return r;
      written[import_key] = import;
    }
  }
  // Endpoints before the service, so nothing points at a missing service.
  std::vector<ObjectKey> to_delete;
  for (const auto& [key, o] : written) {
    if (!desired.contains(key)) to_delete.push_back(key);
  }
  std::stable_partition(to_delete.begin(), to_delete.end(),
                        [](const ObjectKey& k) { return k.kind == discovery::Kind::kEndpoint; });
  for (const auto& key : to_delete) {
    if (auto r = store_.remove(key); !r) return r;
    written.erase(key);
  }
  dirty_.erase(service);
  if (written.empty()) written_.erase(service);
  if (mit != members_.end() && mit->second.empty()) {
    members_.erase(mit);
    links_.erase(service);
  }
  if (!any_member) virtual_ips_.erase(service);
  return {};
}

}  // namespace strait::link
