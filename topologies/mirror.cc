// Topologies: the three mirror shapes.
#include "topologies/mirror.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "core/discovery/json_codec.h"
#include "topologies/labels.h"

namespace strait::topologies {
using discovery::Endpoint;
using discovery::Labels;
using discovery::Link;
using discovery::Service;
using discovery::ServiceImport;
using discovery::ServicePort;

namespace {

bool selector_matches(const Labels& selector, const Labels& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

// A DNS-label-safe suffix from an address: "198.18.1.10" -> "198-18-1-10".
std::string address_label(const std::string& address, std::uint16_t port) {
  std::string out;
  for (char c : address) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return out + "-" + std::to_string(port);
}

Service mirror_service(const RemoteService& remote, const Link* link, const std::string& name,
                       const std::string& remote_cluster, const std::string& domain) {
  const Service& r = remote.service;
  Service s;
  s.meta.cluster = remote_cluster;
  s.meta.ns = r.meta.ns;
  s.meta.name = name;
  s.meta.labels = mirror_labels(r.meta.labels, link, remote_cluster);
  s.meta.annotations[std::string(kRemoteFqName)] = r.meta.name + "." + r.meta.ns + ".svc." + domain;
  s.meta.owner = owner_of(remote_cluster);
  s.ports = r.ports;  // the mirror gets its own virtual IP locally
  return s;
}

}  // namespace

ExportMode export_mode(const Labels& labels) {
  auto it = labels.find(std::string(kExported));
  if (it == labels.end()) return ExportMode::kNone;
  if (it->second == "true") return ExportMode::kGateway;
  if (it->second == "remote-discovery") return ExportMode::kFlat;
  return ExportMode::kNone;
}

bool is_federated_member(const Labels& labels) {
  auto it = labels.find(std::string(kFederated));
  return it != labels.end() && it->second == "member";
}

Service as_service_export(Service service) {
  service.meta.labels[std::string(kFederated)] = "member";
  return service;
}

bool exported_to(const Service& service, const std::string& cluster) {
  auto it = service.meta.annotations.find(std::string(kExportTo));
  if (it == service.meta.annotations.end()) return true;
  std::stringstream ss(it->second);
  std::string name;
  while (std::getline(ss, name, ',')) {
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (name == cluster) return true;
  }
  return false;
}

bool link_selects(const Link& link, const Service& service) {
  switch (export_mode(service.meta.labels)) {
    case ExportMode::kGateway:
      if (selector_matches(link.selector, service.meta.labels)) return true;
      break;
    case ExportMode::kFlat:
      if (selector_matches(link.remote_discovery_selector, service.meta.labels)) return true;
      break;
    case ExportMode::kNone:
      break;
  }
  return is_federated_member(service.meta.labels) &&
         selector_matches(link.federated_selector, service.meta.labels);
}

std::string mirror_name(const std::string& service, const std::string& cluster) {
  return service + "-" + cluster;
}
std::string federated_name(const std::string& service) { return service + "-federated"; }
std::string owner_of(const std::string& cluster) { return "link:" + cluster; }

Labels mirror_labels(const Labels& remote, const Link* link, const std::string& remote_cluster) {
  Labels out;
  for (const auto& [k, v] : remote) {
    if (k.rfind(kPrefix, 0) == 0) continue;
    if (link && std::find(link->excluded_labels.begin(), link->excluded_labels.end(), k) !=
                    link->excluded_labels.end()) {
      continue;
    }
    out[k] = v;
  }
  out[std::string(kMirrored)] = "true";
  out[std::string(kClusterName)] = remote_cluster;
  return out;
}

Mirror gateway_mirror(const RemoteService& remote, const Link& link, const GatewayView& gateway,
                      const std::string& /*local_cluster*/) {
  Mirror m;
  const auto& r = remote.service;
  const std::string name = mirror_name(r.meta.name, link.target_cluster);
  m.service = mirror_service(remote, &link, name, link.target_cluster, link.target_domain);
  const std::string authority = r.meta.name + "." + r.meta.ns + ".svc." + link.target_domain;
  for (const auto& address : gateway.addresses) {
    Endpoint e;
    e.meta.cluster = link.target_cluster;
    e.meta.ns = r.meta.ns;
    e.meta.name = name + "-gw-" + address_label(address, gateway.port);
    e.meta.owner = owner_of(link.target_cluster);
    e.meta.labels = {{"target_cluster", link.target_cluster},
                     {"target_service", r.meta.name},
                     {"target_service_namespace", r.meta.ns}};
    e.service = name;
    e.address = address;
    e.port = gateway.port;  // the gateway serves every port of the service (ports stay empty)
    e.identity = gateway.identity;
    e.ready = gateway.alive && !remote.endpoints.empty();
    // Without a port, the destination service appends the port the client asked for.
    e.authority_override = authority;
    m.endpoints.push_back(std::move(e));
  }
  return m;
}

Mirror flat_mirror(const RemoteService& remote, const Link& link, const std::string& /*local*/) {
  Mirror m;
  const auto& r = remote.service;
  const std::string name = mirror_name(r.meta.name, link.target_cluster);
  m.service = mirror_service(remote, &link, name, link.target_cluster, link.target_domain);
  for (const auto& re : remote.endpoints) {
    Endpoint e = re;
    e.meta.cluster = link.target_cluster;
    e.meta.name = name + "-" + address_label(re.address, re.port);
    e.meta.owner = owner_of(link.target_cluster);
    e.meta.version = 0;
    e.meta.labels = {{"target_cluster", link.target_cluster},
                     {"target_service", r.meta.name},
                     {"target_service_namespace", r.meta.ns}};
    e.service = name;
    m.endpoints.push_back(std::move(e));
  }
  return m;
}

namespace {

const FederatedMember* oldest_member(const std::vector<FederatedMember>& members) {
  const FederatedMember* oldest = &members.front();
  for (const auto& mb : members) {
    if (mb.first_seen < oldest->first_seen) oldest = &mb;
  }
  return oldest;
}

}  // namespace

std::vector<ServicePort> union_ports(const std::vector<FederatedMember>& members,
                                     std::vector<std::string>* conflicts) {
  std::vector<const FederatedMember*> by_age;
  for (const auto& mb : members) by_age.push_back(&mb);
  std::stable_sort(by_age.begin(), by_age.end(),
                   [](const auto* a, const auto* b) { return a->first_seen < b->first_seen; });
  std::vector<ServicePort> out;
  std::map<std::string, std::pair<std::size_t, std::string>> by_name;  // -> index, cluster
  for (const auto* mb : by_age) {
    for (const auto& p : mb->remote.service.ports) {
      auto it = by_name.find(p.name);
      if (it == by_name.end()) {
        by_name[p.name] = {out.size(), mb->cluster};
        out.push_back(p);
        continue;
      }
      const ServicePort& kept = out[it->second.first];
      if (kept.port == p.port && kept.protocol == p.protocol) continue;
      if (conflicts) {
        conflicts->push_back("port " + (p.name.empty() ? std::string("(unnamed)") : p.name) + ": " +
                             mb->cluster + " exports " + discovery::port_text(p) + ", " +
                             it->second.second + "'s " + discovery::port_text(kept) +
                             " is used (the oldest export wins)");
      }
    }
  }
  return out;
}

ServiceImport service_import(const std::vector<FederatedMember>& members,
                             const std::string& local_cluster, const std::string& federated_ip) {
  ServiceImport i;
  if (members.empty()) return i;
  const FederatedMember* oldest = oldest_member(members);
  i.meta.ns = oldest->remote.service.meta.ns;
  i.meta.name = oldest->remote.service.meta.name;
  i.meta.cluster = local_cluster;
  i.meta.owner = owner_of(local_cluster);
  if (is_headless(oldest->remote.service)) {
    i.type = "Headless";
  } else if (!federated_ip.empty()) {
    i.ips.push_back(federated_ip);
  }
  i.ports = union_ports(members, &i.conflicts);
  for (const auto& mb : members) i.clusters.push_back(mb.cluster);
  std::sort(i.clusters.begin(), i.clusters.end());
  return i;
}

Mirror federated(const std::vector<FederatedMember>& members, const Link* any_link,
                 const std::string& local_cluster) {
  Mirror m;
  if (members.empty()) return m;
  const FederatedMember* oldest = oldest_member(members);
  const auto& r = oldest->remote.service;
  const std::string name = federated_name(r.meta.name);
  m.service = mirror_service(oldest->remote, any_link, name, local_cluster,
                             any_link ? any_link->target_domain : std::string("cluster.local"));
  m.service.meta.labels[std::string(kClusterName)] = local_cluster;
  m.service.meta.owner = owner_of(local_cluster);
  m.service.meta.annotations.erase(std::string(kRemoteFqName));
  m.service.ports = union_ports(members, nullptr);
  if (is_headless(r)) m.service.cluster_ip = std::string(discovery::kHeadless);
  for (const auto& mb : members) {
    for (const auto& re : mb.remote.endpoints) {
      Endpoint e = re;
      e.meta.cluster = mb.cluster;
      e.meta.name = name + "-" + mb.cluster + "-" + address_label(re.address, re.port);
      e.meta.owner = owner_of(mb.cluster);
      e.meta.version = 0;
      e.service = name;
      m.endpoints.push_back(std::move(e));
    }
  }
  return m;
}

}  // namespace strait::topologies
