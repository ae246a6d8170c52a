// ControllerConfig: reading and validating controller.yaml.
#include "controlplane/server/controller_config.h"

#include "controlplane/server/dns_config.h"
#include "core/identity/spiffe_id.h"
#include "core/net/address.h"

namespace strait::controlplane {
namespace {

template <typename T>
Result<void> read(Result<T> r, T& out) {
  if (!r) return r.error();
  out = std::move(*r);
  return {};
}

}  // namespace

std::string controller_identity(const std::string& td) {
  return identity::SpiffeId::workload(td, "strait-system", "strait-controller").to_string();
}
std::string admin_identity(const std::string& td) {
  return identity::SpiffeId::workload(td, "strait-system", "straitctl").to_string();
}

Result<policy::v1::DefaultPolicy> parse_default_policy(std::string_view text) {
  if (text == "all-authenticated") return policy::v1::ALL_AUTHENTICATED;
  if (text == "all-unauthenticated") return policy::v1::ALL_UNAUTHENTICATED;
  if (text == "deny") return policy::v1::DENY;
  return make_error("invalid_field",
                    "policy.default: expected all-authenticated, "
                    "all-unauthenticated or deny, got \"" +
                        std::string(text) + "\"");
}

Result<ControllerConfig> ControllerConfig::from(const config::Config& c) {
  ControllerConfig out;
  std::string state_dir;
  std::string policy_text;
  std::chrono::milliseconds lifetime{}, lease{};
  std::int64_t port = 0, queue = 0, gateway_port = 0, streams = 0;
  for (auto r :
       {read(c.require_string("cluster.name"), out.cluster),
        read(c.get_string("cluster.domain", "cluster.local"), out.domain),
        read(c.require_string("cluster.trustDomain"), out.trust_domain),
        read(c.get_string("cluster.serviceCIDR", "198.19.0.0/20"), out.service_cidr),
        read(c.get_int("cluster.inboundProxyPort", 4143), port),
        read(c.require_string("stateDir"), state_dir),
        read(c.get_string_list("listen.identity", out.identity_listen), out.identity_listen),
        read(c.get_string_list("listen.destination", out.destination_listen),
             out.destination_listen),
        read(c.get_string("listen.admin", out.admin_listen), out.admin_listen),
        read(c.get_string_list("listen.export", out.export_listen), out.export_listen),
        read(c.get_duration("limits.handshakeTimeout", out.handshake_timeout),
             out.handshake_timeout),
        read(c.get_duration("limits.connectionIdle", out.connection_idle), out.connection_idle),
        read(c.get_int("limits.maxConcurrentStreams", out.max_concurrent_streams), streams),
        read(c.get_string_list("registration.anyAddress", {}), out.registration_any_address),
        read(c.get_string("multicluster.exportAddress", ""), out.export_address),
        read(c.get_string("multicluster.identityAddress", ""), out.identity_address),
        read(c.get_string_list("multicluster.gatewayAddresses", {}), out.gateway_addresses),
        read(c.get_int("multicluster.gatewayPort", 4143), gateway_port),
        read(c.get_string("multicluster.gatewayIdentity", ""), out.gateway_identity),
        read(c.get_duration("identity.certLifetime", std::chrono::hours(24)), lifetime),
        read(c.get_string("policy.default", "all-authenticated"), policy_text),
        read(c.get_duration("registration.lease", std::chrono::seconds(5)), lease),
        read(c.get_int("streams.queueCapacity", 1024), queue)}) {
    if (!r) return r.error();
  }
  if (!identity::SpiffeId::is_valid_trust_domain(out.trust_domain)) {
    return make_error("invalid_field", "cluster.trustDomain: not a valid trust domain: \"" +
                                           out.trust_domain + "\"");
  }
  if (port <= 0 || port > 65535) {
    return make_error("invalid_field", "cluster.inboundProxyPort: must be 1..65535");
  }
  if (gateway_port <= 0 || gateway_port > 65535) {
    return make_error("invalid_field", "multicluster.gatewayPort: must be 1..65535");
  }
  out.gateway_port = static_cast<std::uint16_t>(gateway_port);
  if (out.gateway_identity.empty()) {
    out.gateway_identity =
        identity::SpiffeId::workload(out.trust_domain, "strait-multicluster", "strait-gateway")
            .to_string();
  }
  if (lifetime < std::chrono::seconds(10)) {
    return make_error("invalid_field", "identity.certLifetime: must be at least 10s");
  }
  if (lease < std::chrono::seconds(1)) {
    return make_error("invalid_field", "registration.lease: must be at least 1s");
  }
  if (queue < 1) return make_error("invalid_field", "streams.queueCapacity: must be positive");
  for (const auto* list : {&out.identity_listen, &out.destination_listen, &out.export_listen}) {
    if (list->empty()) return make_error("invalid_field", "listen.*: needs at least one address");
    for (const auto& a : *list) {
      if (auto hp = net::split_host_port(a); !hp) {
        return make_error("invalid_field", "listen: " + hp.error().message);
      }
    }
  }
  if (auto hp = net::split_host_port(out.admin_listen); !hp) {
    return make_error("invalid_field", "listen.admin: " + hp.error().message);
  }
  if (out.handshake_timeout < std::chrono::milliseconds(100) ||
      out.connection_idle < std::chrono::seconds(1)) {
    return make_error(
        "invalid_field",
        "limits: handshakeTimeout must be at least 100ms, connectionIdle at least 1s");
  }
  if (streams < 1 || streams > 1'000'000) {
    return make_error("invalid_field", "limits.maxConcurrentStreams: must be 1..1000000");
  }
  out.max_concurrent_streams = static_cast<std::uint32_t>(streams);
  auto dns = read_dns_settings(c);
  if (!dns) return dns.error();
  out.dns = std::move(*dns);
  for (const auto& pattern : out.registration_any_address) {
    if (auto p = identity::IdentityPattern::parse(pattern); !p) {
      return make_error("invalid_field",
                        "registration.anyAddress: \"" + pattern + "\": " + p.error().message);
    }
  }
  auto policy = parse_default_policy(policy_text);
  if (!policy) return policy.error();
  out.default_policy = *policy;
  out.inbound_proxy_port = static_cast<std::uint16_t>(port);
  out.state_dir = state_dir;
  out.cert_lifetime = std::chrono::duration_cast<std::chrono::seconds>(lifetime);
  out.lease = std::chrono::duration_cast<std::chrono::seconds>(lease);
  out.stream_queue = static_cast<std::size_t>(queue);
  return out;
}

}  // namespace strait::controlplane
