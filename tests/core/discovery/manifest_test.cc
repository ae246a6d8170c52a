// Manifests: every kind parses from YAML, multi-document files, defaults, validation errors that
// name the document and the field path, and YAML/JSON output that parses back to the same objects.
#include "core/discovery/manifest.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "core/discovery/json_codec.h"

namespace strait::discovery {
namespace {

constexpr std::string_view kAllKinds = R"(
apiVersion: strait.dev/v1alpha1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {app: web, "tier": "1"}
  annotations:
    owner-team: payments
spec:
  clusterIP: 10.96.0.10
  ports:
  - name: http
    port: 80
    targetPort: 8080
    protocol: http1
  - {name: grpc, port: 9090, protocol: http2}
---
apiVersion: strait.dev/v1alpha1
kind: Endpoint
metadata:
  name: web-1
  namespace: shop
  labels:
    pod: web-1
spec:
  service: web
  address: 10.1.2.3
  port: 8080
  identity: spiffe://west.local/ns/shop/sa/web
  zone: zone-a
  ready: false
  weight: 500
  protocol: opaque
  authorityOverride: web.shop.svc.east.local:80
---
apiVersion: strait.dev/v1alpha1
kind: Server
metadata:
  name: web-http
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: web
  port: 8080
  proxyProtocol: http2
---
apiVersion: strait.dev/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: web-allow
  namespace: shop
spec:
  targetRef:
    kind: Server
    name: web-http
  requiredAuthentication:
    identities: ["spiffe://west.local/ns/shop/*", "*"]
    networks: [10.0.0.0/8, "fd00::/8"]
  unauthenticated: false
---
apiVersion: multicluster.strait.dev/v1alpha1
kind: Link
metadata:
  name: east
  namespace: strait-multicluster
spec:
  targetClusterName: east
  targetClusterDomain: east.local
  targetTrustDomain: east.example
  trustBundle: |
    -----BEGIN CERTIFICATE-----
    AAAA
    -----END CERTIFICATE-----
  exportAddress: export.east.example:8443
  gatewayAddresses: [192.0.2.1, gw.east.example]
  gatewayPort: 4143
  gatewayIdentity: spiffe://east.example/ns/strait/sa/gateway
  probeSpec:
    path: /ready
    port: 4191
    period: 5s
    timeout: 500ms
    failureThreshold: 4
  selector:
    matchLabels: {mirror.strait.dev/exported: "true"}
  remoteDiscoverySelector:
    matchLabels: {mirror.strait.dev/exported: remote-discovery}
  federatedServiceSelector:
    matchLabels: {mirror.strait.dev/federated: member}
  excludedLabels: [internal]
)";

Result<std::vector<Object>> parse(std::string_view text) { return parse_manifests(text, "west"); }

std::string error_of(std::string_view text) {
  auto r = parse(text);
  if (r.ok()) return "(parsed)";
  return r.error().code + " | " + r.error().message;
}

TEST(Manifest, ParsesEveryKind) {
  auto r = parse(kAllKinds);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 5u);

  const auto& svc = std::get<Service>((*r)[0]);
  EXPECT_EQ(svc.meta.name, "web");
  EXPECT_EQ(svc.meta.ns, "shop");
  EXPECT_EQ(svc.meta.cluster, "west");
  EXPECT_EQ(svc.meta.labels, (Labels{{"app", "web"}, {"tier", "1"}}));
  EXPECT_EQ(svc.meta.annotations.at("owner-team"), "payments");
  EXPECT_EQ(svc.cluster_ip, "10.96.0.10");
  ASSERT_EQ(svc.ports.size(), 2u);
  EXPECT_TRUE((svc.ports[0] == ServicePort{"http", 80, 8080, ProtocolHint::kHttp1}));
  EXPECT_TRUE((svc.ports[1] == ServicePort{"grpc", 9090, 0, ProtocolHint::kHttp2}));

  const auto& ep = std::get<Endpoint>((*r)[1]);
  EXPECT_EQ(ep.service, "web");
  EXPECT_EQ(ep.address, "10.1.2.3");
  EXPECT_EQ(ep.port, 8080);
  EXPECT_EQ(ep.identity, "spiffe://west.local/ns/shop/sa/web");
  EXPECT_EQ(ep.zone, "zone-a");
  EXPECT_FALSE(ep.ready);
  EXPECT_EQ(ep.weight, 500u);
  EXPECT_EQ(ep.protocol, ProtocolHint::kOpaque);
  EXPECT_EQ(ep.authority_override, "web.shop.svc.east.local:80");
  EXPECT_EQ(ep.meta.labels.at("pod"), "web-1");

  const auto& srv = std::get<Server>((*r)[2]);
  EXPECT_EQ(srv.pod_selector, (Labels{{"app", "web"}}));
  EXPECT_EQ(srv.port, 8080);
  EXPECT_EQ(srv.proxy_protocol, ProtocolHint::kHttp2);

  const auto& pol = std::get<AuthorizationPolicy>((*r)[3]);
  EXPECT_EQ(pol.target_server, "web-http");
  EXPECT_EQ(pol.identities, (std::vector<std::string>{"spiffe://west.local/ns/shop/*", "*"}));
  EXPECT_EQ(pol.networks, (std::vector<std::string>{"10.0.0.0/8", "fd00::/8"}));
  EXPECT_FALSE(pol.unauthenticated);

  const auto& link = std::get<Link>((*r)[4]);
  EXPECT_EQ(link.meta.ns, "strait-multicluster");
  EXPECT_EQ(link.target_cluster, "east");
  EXPECT_EQ(link.target_domain, "east.local");
  EXPECT_EQ(link.target_trust_domain, "east.example");
  EXPECT_EQ(link.trust_bundle_pem,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  EXPECT_EQ(link.export_address, "export.east.example:8443");
  EXPECT_EQ(link.gateway_addresses, (std::vector<std::string>{"192.0.2.1", "gw.east.example"}));
  EXPECT_EQ(link.gateway_port, 4143);
  EXPECT_EQ(link.gateway_identity, "spiffe://east.example/ns/strait/sa/gateway");
  EXPECT_TRUE((link.probe == ProbeSpec{"/ready", 4191, std::chrono::seconds(5),
                                       std::chrono::milliseconds(500), 4}));
  EXPECT_EQ(link.selector, (Labels{{"mirror.strait.dev/exported", "true"}}));
  EXPECT_EQ(link.remote_discovery_selector,
            (Labels{{"mirror.strait.dev/exported", "remote-discovery"}}));
  EXPECT_EQ(link.federated_selector, (Labels{{"mirror.strait.dev/federated", "member"}}));
  EXPECT_EQ(link.excluded_labels, (std::vector<std::string>{"internal"}));
}

TEST(Manifest, DefaultsNamespaceClusterAndSpecFields) {
  auto r = parse(R"(---
apiVersion: strait.dev/v1alpha1
kind: Endpoint
metadata: {name: e1}
spec: {service: web, address: web-0.example.com, port: 80}
---
---
apiVersion: multicluster.strait.dev/v1alpha1
kind: Link
metadata: {name: east, cluster: other}
spec: {targetClusterName: east, targetClusterDomain: east.local, targetTrustDomain: east.example,
       exportAddress: "[fd00::1]:8443"}
)");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 2u);
  const auto& ep = std::get<Endpoint>((*r)[0]);
  EXPECT_EQ(ep.meta.ns, "default");
  EXPECT_EQ(ep.meta.cluster, "west");
  EXPECT_TRUE(ep.ready);
  EXPECT_EQ(ep.weight, 10000u);
  const auto& link = std::get<Link>((*r)[1]);
  EXPECT_EQ(link.meta.cluster, "other");
  EXPECT_EQ(link.gateway_port, 4143);
  EXPECT_TRUE(link.probe == ProbeSpec{});
}

TEST(Manifest, ErrorsNameDocumentAndPath) {
  EXPECT_EQ(error_of(R"(apiVersion: strait.dev/v1alpha1
kind: Server
metadata: {name: s}
spec: {port: 80}
---
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{port: 70000}]
)"),
            "invalid_field | document 2 (Service shop/web): spec.ports[0].port: must be 1..65535, "
            "got 70000");

  EXPECT_EQ(
      error_of("apiVersion: strait.dev/v1alpha1\nkind: Foo\nmetadata: {name: x}\n"),
      "unknown_kind | document 1 (Foo default/x): unknown kind \"Foo\" (known: Service, Endpoint, "
      "Server, AuthorizationPolicy, Link, ServiceExport, ServiceImport)");

  EXPECT_EQ(
      error_of("apiVersion: strait.dev/v1alpha1\nkind: Server\nmetadata: {name: s}\n"
               "spec: {port: 80, podSelector: {matchLabels: {a: b}, matchExpressions: []}}\n"),
      "invalid_field | document 1 (Server default/s): spec.podSelector.matchExpressions: unknown "
      "field");

  EXPECT_EQ(error_of("apiVersion: strait.dev/v1alpha1\nkind: Server\nmetadata: {name: "
                     "Web_1}\nspec: {port: 80}\n"),
            "invalid_field | document 1 (Server default/Web_1): metadata.name: must be a DNS label "
            "(lowercase "
            "letters, digits and '-', starting and ending with a letter or digit, at most 63 "
            "characters), "
            "got \"Web_1\"");

  std::string long_name(64, 'a');
  EXPECT_NE(error_of("apiVersion: strait.dev/v1alpha1\nkind: Server\nmetadata: {name: " +
                     long_name + "}\nspec: {port: 80}\n")
                .find("metadata.name: must be a DNS label"),
            std::string::npos);

  EXPECT_EQ(error_of("apiVersion: strait.dev/v1alpha1\nkind: Endpoint\nmetadata: {name: e}\n"
                     "spec: {service: web, address: 'not an address', port: 80}\n"),
            "invalid_field | document 1 (Endpoint default/e): spec.address: must be an IP address "
            "or a DNS "
            "name, got \"not an address\"");

  EXPECT_EQ(
      error_of("apiVersion: strait.dev/v1alpha1\nkind: Service\nmetadata: {name: w}\n"
               "spec: {clusterIP: 10.0.0.300, ports: [{port: 80}]}\n"),
      "invalid_field | document 1 (Service default/w): spec.clusterIP: must be an IP address, "
      "None (headless) or omitted to allocate one, got \"10.0.0.300\"");
  // Headless: no virtual IP, accepted as Kubernetes spells it.
  EXPECT_EQ(error_of("apiVersion: strait.dev/v1alpha1\nkind: Service\nmetadata: {name: w}\n"
                     "spec: {clusterIP: None, ports: [{port: 80}]}\n"),
            "(parsed)");

  EXPECT_NE(
      error_of("apiVersion: strait.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p}\n"
               "spec: {targetRef: {kind: Server, name: s}, requiredAuthentication: {networks: "
               "[10.0.0.0/33]}}\n")
          .find("spec.requiredAuthentication.networks[0]: must be a CIDR"),
      std::string::npos);

  EXPECT_NE(
      error_of("apiVersion: strait.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p}\n"
               "spec: {targetRef: {kind: Server, name: s}, requiredAuthentication: {identities: "
               "[web]}}\n")
          .find("spec.requiredAuthentication.identities[0]: must be a SPIFFE id"),
      std::string::npos);

  EXPECT_NE(
      error_of("apiVersion: strait.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: p}\n"
               "spec: {targetRef: {kind: Pod, name: s}, unauthenticated: true}\n")
          .find("spec.targetRef.kind: must be Server"),
      std::string::npos);

  EXPECT_NE(error_of("apiVersion: strait.dev/v1alpha1\nkind: Endpoint\nmetadata: {name: e}\n"
                     "spec: {service: web, address: 10.0.0.1, port: 80, identity: spiffe://}\n")
                .find("spec.identity: must be a SPIFFE id"),
            std::string::npos);

  EXPECT_NE(error_of("apiVersion: strait.dev/v1alpha1\nkind: Link\nmetadata: {name: l}\n"
                     "spec: {targetClusterName: east}\n")
                .find("apiVersion: must be multicluster.strait.dev/v1alpha1 for Link"),
            std::string::npos);

  EXPECT_NE(
      error_of("apiVersion: multicluster.strait.dev/v1alpha1\nkind: Link\nmetadata: {name: l}\n"
               "spec: {targetClusterName: east, targetClusterDomain: east.local, "
               "targetTrustDomain: e.x,\n"
               "       exportAddress: 'e.x:1', probeSpec: {period: 3}}\n")
          .find("document 1 (Link default/l): spec.probeSpec.period: expected a duration"),
      std::string::npos);

  EXPECT_NE(error_of("apiVersion: strait.dev/v1alpha1\nkind: Server\nmetadata: {name: s}\nspec: "
                     "{port: \"80\"}\n")
                .find("spec.port: expected an integer, got string \"80\""),
            std::string::npos);

  auto syntax = parse("kind: [unclosed\n");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().code, "invalid_manifest");

  auto no_kind = parse("apiVersion: strait.dev/v1alpha1\nmetadata: {name: s}\n");
  ASSERT_FALSE(no_kind.ok());
  EXPECT_EQ(no_kind.error().code, "invalid_manifest");
  EXPECT_EQ(no_kind.error().message, "document 1: kind: required");

  auto scalar = parse("just text\n");
  ASSERT_FALSE(scalar.ok());
  EXPECT_EQ(scalar.error().code, "invalid_manifest");
}

// An Endpoint names one port, lists several as an EndpointSlice does, or names none (every port
// of its service); never both, and a list without duplicates.
TEST(Manifest, EndpointPortsAreOneAListOrEvery) {
  const std::string head =
      "apiVersion: strait.dev/v1alpha1\nkind: Endpoint\nmetadata: {name: db-1, namespace: shop}\n"
      "spec: {service: db, address: 10.1.0.1";
  auto r = parse(head + ", ports: [{name: client, port: 6379}, {port: 16379}]}\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const auto& e = std::get<Endpoint>((*r)[0]);
  EXPECT_EQ(e.port, 0);
  EXPECT_EQ(e.ports, (std::vector<EndpointPort>{{"client", 6379}, {"", 16379}}));
  auto again = parse(to_manifest_yaml(*r));
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_TRUE((*again)[0] == (*r)[0]);
  EXPECT_EQ(error_of(head + "}\n"), "(parsed)");  // every port of its service

  EXPECT_EQ(error_of(head + ", port: 6379, ports: [{port: 16379}]}\n"),
            "invalid_field | document 1 (Endpoint shop/db-1): spec.ports: give spec.port or "
            "spec.ports, not both");
  EXPECT_EQ(
      error_of(head + ", ports: [{port: 1}, {port: 1}]}\n"),
      "invalid_field | document 1 (Endpoint shop/db-1): spec.ports[1].port: duplicate port 1");
  EXPECT_EQ(error_of(head + ", ports: [{name: a, port: 1}, {name: a, port: 2}]}\n"),
            "invalid_field | document 1 (Endpoint shop/db-1): spec.ports[1].name: duplicate port "
            "name \"a\"");
  EXPECT_EQ(
      error_of(head + ", ports: [{name: a}]}\n"),
      "invalid_field | document 1 (Endpoint shop/db-1): spec.ports[0].port: must be 1..65535, "
      "got 0");
  EXPECT_EQ(
      error_of(head + ", ports: [{port: 1, targetPort: 2}]}\n"),
      "invalid_field | document 1 (Endpoint shop/db-1): spec.ports[0].targetPort: unknown field");
}

TEST(Manifest, ServiceExportHasTheMulticlusterServicesShape) {
  auto r = parse(
      "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\n"
      "metadata: {name: api, namespace: shop}\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 1u);
  const auto& x = std::get<ServiceExport>((*r)[0]);
  EXPECT_EQ(x.meta.name, "api");
  EXPECT_EQ(x.meta.ns, "shop");
  EXPECT_EQ(x.meta.cluster, "west");
  std::string yaml = to_manifest_yaml(*r);
  EXPECT_NE(yaml.find("apiVersion: multicluster.x-k8s.io/v1alpha1"), std::string::npos) << yaml;
  auto again = parse(yaml);
  ASSERT_TRUE(again.ok()) << again.error().to_string() << "\n" << yaml;
  EXPECT_TRUE((*again)[0] == (*r)[0]);

  EXPECT_EQ(error_of("apiVersion: strait.dev/v1alpha1\nkind: ServiceExport\nmetadata: {name: a}\n"),
            "invalid_field | document 1 (ServiceExport default/a): apiVersion: must be "
            "multicluster.x-k8s.io/v1alpha1 for ServiceExport, got \"strait.dev/v1alpha1\"");
  EXPECT_EQ(error_of("apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\n"
                     "metadata: {name: a}\nspec: {ports: []}\n"),
            "invalid_field | document 1 (ServiceExport default/a): spec.ports: unknown field");
  EXPECT_EQ(error_of("apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\n"
                     "metadata: {name: Api_1}\n")
                .substr(0, 60),
            std::string("invalid_field | document 1 (ServiceExport default/Api_1): metadata.name")
                .substr(0, 60));
}

TEST(Manifest, ServiceImportHasTheMulticlusterServicesShapeWithItsStatus) {
  auto r = parse(
      "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceImport\n"
      "metadata: {name: db, namespace: shop}\n"
      "spec: {type: ClusterSetIP, ips: [10.96.0.7], ports: [{name: sql, port: 5432}]}\n"
      "status:\n  clusters: [{cluster: east}, {cluster: north}]\n"
      "  conditions: [{type: ServiceExportConflict, status: 'True', reason: PortConflict,"
      " message: 'port sql: north exports 5433/unknown'}]\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const auto& i = std::get<ServiceImport>((*r)[0]);
  EXPECT_EQ(i.type, "ClusterSetIP");
  EXPECT_EQ(i.ips, (std::vector<std::string>{"10.96.0.7"}));
  ASSERT_EQ(i.ports.size(), 1u);
  EXPECT_EQ(i.ports[0].port, 5432);
  EXPECT_EQ(i.clusters, (std::vector<std::string>{"east", "north"}));
  EXPECT_EQ(i.conflicts, (std::vector<std::string>{"port sql: north exports 5433/unknown"}));
  std::string yaml = to_manifest_yaml(*r);
  EXPECT_NE(yaml.find("ServiceExportConflict"), std::string::npos) << yaml;
  auto again = parse(yaml);
  ASSERT_TRUE(again.ok()) << again.error().to_string() << "\n" << yaml;
  EXPECT_TRUE((*again)[0] == (*r)[0]) << yaml;

  const std::string head =
      "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceImport\nmetadata: {name: db}\n";
  EXPECT_EQ(error_of(head + "spec: {type: LoadBalancer, ports: [{port: 1}]}\n"),
            "invalid_field | document 1 (ServiceImport default/db): spec.type: must be "
            "ClusterSetIP or Headless, got \"LoadBalancer\"");
  EXPECT_EQ(error_of(head + "spec: {type: Headless, ips: [10.0.0.1], ports: [{port: 1}]}\n"),
            "invalid_field | document 1 (ServiceImport default/db): spec.ips: must be empty for "
            "Headless");
  EXPECT_EQ(error_of(head + "spec: {ports: [{port: 1}]}\nstatus: {clusters: [{name: x}]}\n"),
            "invalid_field | document 1 (ServiceImport default/db): status.clusters[0].cluster: "
            "required");
  // Other kinds have no status.
  EXPECT_EQ(error_of("apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\n"
                     "metadata: {name: a}\nstatus: {conditions: []}\n"),
            "invalid_field | document 1 (ServiceExport default/a): status.conditions: unknown "
            "field");
}

TEST(Manifest, YamlAndJsonOutputParseBack) {
  auto r = parse(kAllKinds);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  std::string yaml = to_manifest_yaml(*r);
  auto again = parse(yaml);
  ASSERT_TRUE(again.ok()) << again.error().to_string() << "\n" << yaml;
  ASSERT_EQ(again->size(), r->size());
  for (std::size_t i = 0; i < r->size(); ++i) EXPECT_TRUE((*again)[i] == (*r)[i]) << yaml;
  EXPECT_NE(yaml.find("apiVersion: multicluster.strait.dev/v1alpha1"), std::string::npos);
  EXPECT_EQ(yaml.find("owner:"), std::string::npos);
  EXPECT_EQ(yaml.find("version:"), std::string::npos);  // re-appliable: no store bookkeeping

  // Single objects in JSON (YAML accepts JSON), and a List of several.
  for (const Object& o : *r) {
    auto j = parse(to_manifest_json(o));
    ASSERT_TRUE(j.ok()) << j.error().to_string() << "\n" << to_manifest_json(o);
    ASSERT_EQ(j->size(), 1u);
    EXPECT_TRUE((*j)[0] == o);
  }
  auto list = boost::json::parse(to_manifest_json(*r));
  EXPECT_EQ(list.at("kind").as_string(), "List");
  EXPECT_EQ(list.at("items").as_array().size(), 5u);
}

TEST(Manifest, StringsThatLookLikeOtherTypesStayStrings) {
  Service s;
  s.meta =
      Meta{"west", "default", "web", {{"v", "1"}, {"flag", "true"}, {"empty", ""}, {"n", "null"}},
           {},     0,         ""};
  s.ports = {{"", 80, 0, ProtocolHint::kUnknown}};
  auto back = parse(to_manifest_yaml(Object{s}));
  ASSERT_TRUE(back.ok()) << back.error().to_string() << "\n" << to_manifest_yaml(Object{s});
  EXPECT_TRUE((*back)[0] == Object{s}) << to_manifest_yaml(Object{s});
}

TEST(Manifest, Helpers) {
  EXPECT_TRUE(is_dns_label("web-1"));
  EXPECT_FALSE(is_dns_label("-web"));
  EXPECT_FALSE(is_dns_label("web."));
  EXPECT_FALSE(is_dns_label(std::string(64, 'a')));
  EXPECT_TRUE(is_dns_label(std::string(63, 'a')));
  EXPECT_TRUE(is_dns_name("gw.east.example."));
  EXPECT_FALSE(is_dns_name("gw..east"));
  EXPECT_TRUE(is_ip_address("::1"));
  EXPECT_FALSE(is_ip_address("1.2.3"));
  EXPECT_TRUE(is_cidr("10.0.0.0/8"));
  EXPECT_TRUE(is_cidr("10.0.0.1"));
  EXPECT_FALSE(is_cidr("10.0.0.0/"));
  EXPECT_FALSE(is_cidr("fd00::/129"));
}

}  // namespace
}  // namespace strait::discovery
