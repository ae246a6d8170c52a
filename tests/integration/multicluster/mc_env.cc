// The multicluster fixture: building meshes, exporting services, polling requests and metrics.
#include "tests/integration/multicluster/mc_env.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

namespace strait::multicluster_it {

std::string service_yaml(const std::string& name, const Labels& labels, const Labels& annotations) {
  auto map = [](const Labels& l) {
    std::string out = "{";
    for (const auto& [k, v] : l) out += (out.size() > 1 ? ", " : "") + k + ": \"" + v + "\"";
    return out + "}";
  };
  return "apiVersion: strait.dev/v1alpha1\nkind: Service\nmetadata:\n  name: " + name +
         "\n  namespace: shop\n  labels: " + map(labels) + "\n  annotations: " + map(annotations) +
         "\nspec:\n  ports: [{name: http, port: 80, targetPort: 8080}]\n";
}

void MulticlusterTest::SetUp() {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, iptables)";
}

void MulticlusterTest::TearDown() {
  if (mesh_ && HasFailure()) std::cerr << mesh_->logs();
  mesh_.reset();
  std::error_code ec;
  if (!work_.empty()) std::filesystem::remove_all(work_, ec);
}

Result<void> MulticlusterTest::up(const std::vector<std::string>& clusters, Topology topology,
                                  Trust trust) {
  char tmpl[] = "/tmp/strait-mc-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return make_error("io_error", "mkdtemp failed");
  work_ = tmpl;
  ::chmod(tmpl, 0755);  // the proxies (their own user) read their configs below it
  devmesh::Options o;
  o.work_dir = work_ + "/mesh";
  o.topology = topology;
  o.trust = trust;
  o.bin = devmesh::Binaries::from_build_dir(STRAIT_BUILD_DIR);
  auto mesh = DevMesh::create(o);
  if (!mesh) return mesh.error();
  mesh_ = std::move(*mesh);
  for (const auto& c : clusters) {
    if (auto r = mesh_->add_cluster(c); !r) return r.error();
    devmesh::WorkloadSpec client_pod;
    client_pod.cluster = c;
    client_pod.pod = "client";
    client_pod.ns = "front";
    client_pod.service_account = "client";
    auto client = mesh_->add_workload(client_pod);
    if (!client) return client.error();
  }
  return {};
}

Result<void> MulticlusterTest::http_service(const std::string& cluster, const std::string& pod,
                                            const std::string& service, const Labels& labels,
                                            const Labels& annotations) {
  if (auto r = m().apply(cluster, service_yaml(service, labels, annotations)); !r) return r;
  devmesh::WorkloadSpec spec;
  spec.cluster = cluster;
  spec.pod = pod;
  spec.ns = "shop";
  spec.app = devmesh::App::http;
  spec.service = service;
  auto w = m().add_workload(spec);
  if (!w) return w.error();
  return {};
}

bool MulticlusterTest::curl_until(const std::string& pod, const std::string& url,
                                  const std::string& expect, std::chrono::milliseconds deadline,
                                  std::string* last) {
  std::string seen;
  auto ok = harness::wait_until(
      [&] {
        auto body = m().curl(pod, url, 3s);
        seen = body ? *body : body.error().message;
        return body && body->find(expect) != std::string::npos;
      },
      harness::deadline_in(deadline), 200ms);
  if (last) *last = seen;
  return ok.ok();
}

bool MulticlusterTest::wait_metric(const std::string& pod, const std::string& name,
                                   const Labels& labels, double at_least,
                                   std::chrono::milliseconds deadline) {
  return harness::wait_until([&] { return metric(pod, name, labels) >= at_least; },
                             harness::deadline_in(deadline), 250ms)
      .ok();
}

std::string MulticlusterTest::client_id(const std::string& cluster) {
  auto c = m().cluster(cluster);
  return c ? "spiffe://" + c->trust_domain + "/ns/front/sa/client" : "";
}

}  // namespace strait::multicluster_it
