// The multicluster fixture: building meshes, exporting services, polling requests and metrics.
#include "tests/integration/multicluster/mc_env.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/discovery/json_codec.h"

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
  // A sanitizer report in any component fails the test, even when nothing else noticed (an
  // Asan build aborts the component; the test may not have needed it any more).
  if (mesh_) {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(mesh_->log_path("x")).parent_path(), ec)) {
      std::ifstream in(e.path());
      for (std::string line; std::getline(in, line);) {
        if (line.find("Sanitizer") != std::string::npos ||
            line.find("runtime error:") != std::string::npos) {
          ADD_FAILURE() << e.path().filename().string() << ": " << line;
          break;
        }
      }
    }
  }
  if (mesh_ && HasFailure()) std::cerr << mesh_->logs();
  mesh_.reset();
  std::error_code ec;
  if (!work_.empty()) std::filesystem::remove_all(work_, ec);
}

Result<void> MulticlusterTest::up(const std::vector<std::string>& clusters, Topology topology,
                                  Trust trust, std::vector<std::string> controller_flags) {
  char tmpl[] = "/tmp/strait-mc-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return make_error("io_error", "mkdtemp failed");
  work_ = tmpl;
  ::chmod(tmpl, 0755);  // the proxies (their own user) read their configs below it
  devmesh::Options o;
  o.work_dir = work_ + "/mesh";
  o.topology = topology;
  o.trust = trust;
  o.controller_flags = std::move(controller_flags);
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

Result<std::vector<discovery::Object>> MulticlusterTest::list(const std::string& cluster,
                                                              const std::string& kind,
                                                              const std::string& ns) {
  std::vector<std::string> args = {"get", kind, "-o", "json"};
  if (!ns.empty()) args.insert(args.end(), {"-n", ns});
  auto out = m().straitctl(cluster, args);
  if (!out) return out.error();
  boost::system::error_code ec;
  auto items = json_at(boost::json::parse(*out, ec), "items");
  if (ec || !items.is_array()) {
    return make_error("bad_reply", "straitctl get " + kind + ": not a JSON list");
  }
  std::vector<discovery::Object> objects;
  for (const auto& item : items.as_array()) {
    auto o = discovery::object_from_json(item, discovery::JsonDialect::kManifest);
    if (!o) return o.error();
    objects.push_back(std::move(*o));
  }
  return objects;
}

Result<std::set<std::string>> MulticlusterTest::objects_from(const std::string& cluster,
                                                             const std::string& from) {
  std::set<std::string> out;
  for (const char* kind : {"services", "endpoints"}) {
    auto objects = list(cluster, kind);
    if (!objects) return objects.error();
    for (const auto& o : *objects) {
      const auto& meta = discovery::meta_of(o);
      if (meta.cluster != from) continue;
      out.insert(std::string(discovery::kind_name(discovery::kind_of(o))) + " " + meta.ns + "/" +
                 meta.name);
    }
  }
  return out;
}

boost::json::value MulticlusterTest::link_entry(const std::string& cluster,
                                                const std::string& target) {
  boost::system::error_code ec;
  auto v = boost::json::parse(m().link_status(cluster), ec);
  if (ec || !v.is_object()) return nullptr;
  auto links = json_at(v, "links");
  if (!links.is_array()) return nullptr;
  for (const auto& l : links.as_array()) {
    if (json_text(l, "target_cluster") == target) return l;
  }
  return nullptr;
}

int MulticlusterTest::link_count(const std::string& cluster) {
  boost::system::error_code ec;
  auto v = boost::json::parse(m().link_status(cluster), ec);
  if (ec || !v.is_object()) return -1;
  auto links = json_at(v, "links");
  return links.is_array() ? static_cast<int>(links.as_array().size()) : -1;
}

bool MulticlusterTest::collect_bodies(const std::string& pod, const std::string& url,
                                      const std::set<std::string>& want,
                                      std::chrono::milliseconds deadline,
                                      std::set<std::string>* seen) {
  std::set<std::string> got;
  auto ok = harness::wait_until(
      [&] {
        auto body = m().curl(pod, url, 3s);
        if (body) {
          std::string line = body->substr(0, body->find('\n'));
          got.insert(line);
        } else {
          got.insert("error: " + body.error().message);
        }
        for (const auto& w : want) {
          if (!got.contains(w)) return false;
        }
        return true;
      },
      harness::deadline_in(deadline), 50ms);
  if (seen) *seen = got;
  return ok.ok();
}

boost::json::value MulticlusterTest::gateway_row(const std::string& cluster,
                                                 const std::string& target, std::string* out) {
  auto r = m().straitctl(cluster, {"multicluster", "gateways", "-o", "json"});
  if (out) *out = r ? *r : r.error().message;
  if (!r) return nullptr;
  boost::system::error_code ec;
  auto v = boost::json::parse(*r, ec);
  if (ec) return nullptr;
  auto rows = json_at(v, "gateways");
  if (!rows.is_array()) return nullptr;
  for (const auto& row : rows.as_array()) {
    if (json_text(row, "cluster") == target) return row;
  }
  return nullptr;
}

boost::json::value json_at(const boost::json::value& v, const std::string& path) {
  const boost::json::value* at = &v;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!at->is_object()) return nullptr;
    const auto* next = at->as_object().if_contains(key);
    if (next == nullptr) return nullptr;
    at = next;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *at;
}

std::string json_text(const boost::json::value& v, const std::string& path) {
  auto at = json_at(v, path);
  return at.is_string() ? std::string(at.as_string()) : "";
}

}  // namespace strait::multicluster_it
