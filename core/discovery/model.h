// The discovery model: the objects every writer (straitctl apply, workload registration,
// strait-link through topologies/) and every reader (destination, policy, export API, straitctl)
// share. Plain values; the store versions them.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace strait::discovery {

enum class Kind {
  kService,
  kEndpoint,
  kServer,
  kAuthorizationPolicy,
  kLink,
  kServiceExport,
  kServiceImport
};
inline constexpr std::array<Kind, 7> kAllKinds = {
    Kind::kService, Kind::kEndpoint,      Kind::kServer,       Kind::kAuthorizationPolicy,
    Kind::kLink,    Kind::kServiceExport, Kind::kServiceImport};

// What the proxy may assume about the bytes on a port (brief, section 6).
enum class ProtocolHint { kUnknown, kOpaque, kHttp1, kHttp2 };

// Default inbound policy for a port that no Server selects (or the cluster default).
enum class DefaultPolicy { kAllAuthenticated, kAllUnauthenticated, kDeny };

using Labels = std::map<std::string, std::string>;

struct Meta {
  std::string cluster;  // the cluster the object describes (mirrors: the remote one)
  std::string ns;
  std::string name;
  Labels labels;
  Labels annotations;
  std::uint64_t version = 0;  // set by the store on every write; monotonic per store
  // Who wrote it: "" (a user, via apply), "lease:<id>" (workload registration: not persisted,
  // removed with its stream), "link:<cluster>" (strait-link mirrors).
  std::string owner;

  bool ephemeral() const { return owner.rfind("lease:", 0) == 0; }

  bool operator==(const Meta&) const = default;
};

struct ServicePort {
  std::string name;
  std::uint16_t port = 0;
  std::uint16_t target_port = 0;  // 0: same as port
  ProtocolHint protocol = ProtocolHint::kUnknown;

  bool operator==(const ServicePort&) const = default;
};

// A headless service's clusterIP, as Kubernetes spells it: no virtual IP, its name resolves to
// its ready endpoints.
inline constexpr std::string_view kHeadless = "None";

struct Service {
  Meta meta;
  // Virtual IP from the cluster's service range; allocated if empty; kHeadless: none.
  std::string cluster_ip;
  std::vector<ServicePort> ports;
  // The service accounts (of the service's namespace) whose workloads may register as its
  // endpoints; empty: only the one named like the service (on Kubernetes a Service selects its
  // pods; here workloads volunteer, so the Service says whom it accepts).
  std::vector<std::string> service_accounts;

  bool operator==(const Service&) const = default;
};

inline bool is_headless(const Service& s) { return s.cluster_ip == kHeadless; }

// A port an endpoint lists, as an EndpointSlice does: a service port reaches it by name (when
// both are named) or by its target port number.
struct EndpointPort {
  std::string name;
  std::uint16_t port = 0;

  bool operator==(const EndpointPort&) const = default;
};

// Which ports an endpoint serves (endpoint_port_for in core/discovery/endpoint_ports.h): `port`
// alone; or the list `ports`; or, with neither, every port its service declares.
struct Endpoint {
  Meta meta;               // meta.labels become the endpoint's metric labels
  std::string service;     // name of the Service (same namespace) this endpoint backs
  std::string address;     // IPv4/IPv6 literal, or a DNS name for gateway endpoints
  std::uint16_t port = 0;  // the workload's port (the proxy's inbound port is known per cluster)
  std::string identity;    // SPIFFE id the client must see when connecting; "" = not meshed
  std::string zone;
  bool ready = true;
  std::uint32_t weight = 10000;
  ProtocolHint protocol = ProtocolHint::kUnknown;
  std::string authority_override;   // gateway topology: the remote service's authority
  std::vector<EndpointPort> ports;  // several ports (then `port` is 0)

  bool operator==(const Endpoint&) const = default;
};

// Selects the workloads of a namespace (by labels) listening on a port.
struct Server {
  Meta meta;
  Labels pod_selector;  // empty: every workload of the namespace
  std::uint16_t port = 0;
  ProtocolHint proxy_protocol = ProtocolHint::kUnknown;

  bool operator==(const Server&) const = default;
};

// Who may reach a Server: identities (exact, suffix "spiffe://td/ns/shop/*", or "*" = any
// authenticated), networks (CIDRs), or anyone when unauthenticated is true.
struct AuthorizationPolicy {
  Meta meta;
  std::string target_server;  // Server name, same namespace
  std::vector<std::string> identities;
  std::vector<std::string> networks;
  bool unauthenticated = false;

  bool operator==(const AuthorizationPolicy&) const = default;
};

struct ProbeSpec {
  std::string path = "/ready";
  std::uint16_t port = 4191;
  std::chrono::milliseconds period{3000};
  std::chrono::milliseconds timeout{1000};
  std::uint32_t failure_threshold = 3;

  bool operator==(const ProbeSpec&) const = default;
};

// A link from this cluster to a target cluster whose exported services it mirrors.
struct Link {
  Meta meta;
  std::string target_cluster;
  std::string target_domain;  // cluster domain, e.g. "east.local"
  std::string target_trust_domain;
  std::string trust_bundle_pem;  // the target's roots (separate trust domains)
  std::string export_address;    // host:port of the target's export API
  std::string identity_address;  // host:port of the target's identity service (link token)
  std::vector<std::string> gateway_addresses;  // names or IPs
  std::uint16_t gateway_port = 4143;
  std::string gateway_identity;
  ProbeSpec probe;
  Labels selector;                   // which exported services to mirror (gateway mode)
  Labels remote_discovery_selector;  // flat mode
  Labels federated_selector;         // federated members
  std::vector<std::string> excluded_labels;
  // The single-use, expiring link token that strait-link exchanges at the target's identity
  // service for a renewable client certificate (spent after the first use).
  std::string link_token;
  // While the export stream is down, the mirrors are served as last seen for this long; then
  // their endpoints become not ready (and the mirrors say since when) until the stream is back.
  std::chrono::milliseconds stale_after{5 * 60 * 1000};

  bool operator==(const Link&) const = default;
};

// The Kubernetes multi-cluster services API (KEP-1645, multicluster.x-k8s.io/v1alpha1): exports
// the Service of the same namespace and name to the clusterset, as the federated-member label
// does: every linked cluster that federates (Link federatedServiceSelector) gets it in its
// `<svc>-federated` service, whose name in the zone clusterset.local is
// `<svc>.<ns>.svc.clusterset.local`. No spec.
struct ServiceExport {
  Meta meta;

  bool operator==(const ServiceExport&) const = default;
};

// What the clusterset offers under an exported name (KEP-1645), written by strait-link beside
// `<svc>-federated`: ClusterSetIP with that service's virtual IP, or Headless; the ports are the
// union of every exporting cluster's (a name two clusters declare differently keeps the oldest
// export's port, and the import records the conflict); clusters are the exporting ones. Not
// meant for `apply` by hand: the link owns it and rewrites it.
struct ServiceImport {
  Meta meta;
  std::string type = "ClusterSetIP";  // or "Headless"
  std::vector<ServicePort> ports;
  std::vector<std::string> ips;
  // status
  std::vector<std::string> clusters;
  std::vector<std::string> conflicts;  // one readable sentence each; empty: no conflict

  bool operator==(const ServiceImport&) const = default;
};

using Object = std::variant<Service, Endpoint, Server, AuthorizationPolicy, Link, ServiceExport,
                            ServiceImport>;

inline const Meta& meta_of(const Object& o) {
  return std::visit([](const auto& v) -> const Meta& { return v.meta; }, o);
}
inline Meta& meta_of(Object& o) {
  return std::visit([](auto& v) -> Meta& { return v.meta; }, o);
}
inline Kind kind_of(const Object& o) { return static_cast<Kind>(o.index()); }

// The store's key: kind, namespace, name (the cluster is data, not identity).
struct ObjectKey {
  Kind kind = Kind::kService;
  std::string ns;
  std::string name;
  auto operator<=>(const ObjectKey&) const = default;
};

inline ObjectKey key_of(const Object& o) {
  const Meta& m = meta_of(o);
  return ObjectKey{kind_of(o), m.ns, m.name};
}

}  // namespace strait::discovery
