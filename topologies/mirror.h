// Topologies: pure functions from what a remote cluster exports (its service and ready
// endpoints), the Link, and the health of the remote gateway, to the discovery objects this
// cluster writes. gateway, flat and federated share everything but the few lines here that
// decide what a mirrored endpoint looks like.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/discovery/model.h"

namespace strait::topologies {

enum class ExportMode { kNone, kGateway, kFlat };

// From the service's labels: exported "true" -> gateway, "remote-discovery" -> flat.
ExportMode export_mode(const discovery::Labels& labels);
bool is_federated_member(const discovery::Labels& labels);
// A Service with a ServiceExport of its name (KEP-1645) is a federated member, as if labelled
// so: the copy that the export API sends and that the local federated set reads carries the
// label.
discovery::Service as_service_export(discovery::Service service);
// The export-to annotation: absent = every cluster; else a comma list of cluster names.
bool exported_to(const discovery::Service& service, const std::string& cluster);
// Whether the Link's selector (and for flat, its remote-discovery selector) admits it.
bool link_selects(const discovery::Link& link, const discovery::Service& service);

// What the remote cluster exported: a service and its ready endpoints.
struct RemoteService {
  discovery::Service service;
  std::vector<discovery::Endpoint> endpoints;
};

// The remote gateway as this cluster sees it: its addresses (names resolved to all their
// IPs), mTLS port and identity, and whether the probes say it is alive.
struct GatewayView {
  std::vector<std::string> addresses;
  std::uint16_t port = 4143;
  std::string identity;
  bool alive = true;
};

struct Mirror {
  discovery::Service service;
  std::vector<discovery::Endpoint> endpoints;
};

std::string mirror_name(const std::string& service, const std::string& cluster);  // <svc>-<cluster>
std::string federated_name(const std::string& service);                           // <svc>-federated
std::string owner_of(const std::string& cluster);  // "link:<cluster>"

// <svc>-<cluster> whose endpoints are the gateway's addresses, with the gateway's identity and
// an authority override naming the remote service; not ready while the gateway is not alive.
Mirror gateway_mirror(const RemoteService& remote, const discovery::Link& link,
                      const GatewayView& gateway, const std::string& local_cluster);

// <svc>-<cluster> whose endpoints are the remote pods, with their own identities.
Mirror flat_mirror(const RemoteService& remote, const discovery::Link& link,
                   const std::string& local_cluster);

// One member of <svc>-federated: `members` are every member cluster's export (the local
// cluster's included), each with the time this cluster first saw it; the oldest gives the
// metadata; the endpoints are the union, each keeping its own cluster.
struct FederatedMember {
  std::string cluster;
  RemoteService remote;
  std::int64_t first_seen = 0;  // any monotonic order: the smallest is the oldest
};
Mirror federated(const std::vector<FederatedMember>& members, const discovery::Link* any_link,
                 const std::string& local_cluster);

// The ports of a federated service (KEP-1645 "ports as the union"): every member's, oldest
// first; a port name that a younger member declares with another number or protocol keeps the
// oldest's, and `conflicts` (if given) gets a sentence naming both.
std::vector<discovery::ServicePort> union_ports(const std::vector<FederatedMember>& members,
                                                std::vector<std::string>* conflicts);

// The ServiceImport `<svc>` beside `<svc>-federated` (same namespace and owner): Headless when
// the oldest member is, else ClusterSetIP with `federated_ip` (empty until the store allocated
// it); the union of ports, the member clusters and the conflicts.
discovery::ServiceImport service_import(const std::vector<FederatedMember>& members,
                                        const std::string& local_cluster,
                                        const std::string& federated_ip);

// The labels a mirror carries: the remote ones except mirror.strait.dev/* and the Link's
// excluded labels, plus mirrored-service and cluster-name.
discovery::Labels mirror_labels(const discovery::Labels& remote, const discovery::Link* link,
                                const std::string& remote_cluster);

}  // namespace strait::topologies
