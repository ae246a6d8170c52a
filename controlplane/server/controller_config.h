// ControllerConfig: everything strait-controller reads from controller.yaml (written by
// `straitctl install`) and from --flags that override it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "controlplane/dns/dns_settings.h"
#include "core/base/result.h"
#include "core/config/config.h"
#include "strait/policy.pb.h"

namespace strait::controlplane {

struct ControllerConfig {
  std::string cluster;                      // cluster.name
  std::string domain;                       // cluster.domain, e.g. "cluster.local"
  std::string trust_domain;                 // cluster.trustDomain
  std::string service_cidr;                 // cluster.serviceCIDR: virtual IPs for Services
  std::uint16_t inbound_proxy_port = 4143;  // cluster.inboundProxyPort
  std::filesystem::path state_dir;          // stateDir

  // listen.*: "host:port"; port 0 picks a free port (the bound ones go to run/endpoints.json).
  // The gRPC listeners take a list (or "a:p,b:p"): bind exactly the networks each must face
  // (docs/security.md) — the mesh port the cluster network, identity also the wan when linked
  // clusters exchange link tokens there, export the wan. Admin: loopback unless told otherwise.
  std::vector<std::string> identity_listen = {"0.0.0.0:8080"};
  std::vector<std::string> destination_listen = {"0.0.0.0:8086"};
  std::string admin_listen = "127.0.0.1:9990";
  std::vector<std::string> export_listen = {"0.0.0.0:8443"};
  // listen.dns and dns.*: the DNS server for the cluster's zones (docs/dns.md); no listen
  // address turns it off.
  dns::DnsSettings dns;

  // limits.*: what every gRPC listener allows a connection.
  std::chrono::milliseconds handshake_timeout{5000};   // limits.handshakeTimeout: TCP to TLS done
  std::chrono::milliseconds connection_idle{300'000};  // limits.connectionIdle: no call open
  std::uint32_t max_concurrent_streams = 1000;         // limits.maxConcurrentStreams per connection

  // multicluster.*: what `straitctl multicluster link-gen` tells other clusters.
  std::string export_address;                  // advertised host:port of the export API
  std::string identity_address;                // advertised host:port of identity (link tokens)
  std::vector<std::string> gateway_addresses;  // names or IPs of this cluster's gateways
  std::uint16_t gateway_port = 4143;
  std::string gateway_identity;  // default spiffe://<td>/ns/strait-multicluster/sa/strait-gateway

  std::chrono::seconds cert_lifetime{24 * 3600};  // identity.certLifetime
  policy::v1::DefaultPolicy default_policy = policy::v1::ALL_AUTHENTICATED;  // policy.default
  std::chrono::seconds lease{5};                                             // registration.lease
  // registration.anyAddress: identity patterns (exact, ".../*", "*") that may register an
  // address other than their stream's source (hosts behind NAT, one-machine dev meshes).
  std::vector<std::string> registration_any_address;
  std::size_t stream_queue = 1024;  // streams.queueCapacity

  static Result<ControllerConfig> from(const config::Config& c);

  // Files of the state directory.
  std::filesystem::path anchor_cert() const { return state_dir / "ca" / "anchor.crt"; }
  std::filesystem::path issuer_cert() const { return state_dir / "ca" / "issuer.crt"; }
  std::filesystem::path issuer_key() const { return state_dir / "ca" / "issuer.key"; }
  std::filesystem::path token_key() const { return state_dir / "ca" / "token-signing.key"; }
  std::filesystem::path endpoints_file() const { return state_dir / "run" / "endpoints.json"; }
};

// The identities the control plane itself uses.
std::string controller_identity(const std::string& trust_domain);
std::string admin_identity(const std::string& trust_domain);
// The name clients verify in the controller's certificate.
inline constexpr const char* kControllerServerName = "strait-controller";

Result<policy::v1::DefaultPolicy> parse_default_policy(std::string_view text);

}  // namespace strait::controlplane
