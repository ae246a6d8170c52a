// The fixture of the multicluster end-to-end tests: a DevMesh (harness/devmesh) of real
// controllers, gateways, strait-link and meshed pods in network namespaces, torn down after each
// test (on failure too, after printing every log). Each cluster gets a client pod (front/client,
// meshed, no application); services live in namespace "shop".
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/result.h"
#include "harness/devmesh/devmesh.h"
#include "tests/support/metric_text.h"

namespace strait::multicluster_it {

using namespace std::chrono_literals;
using devmesh::DevMesh;
using devmesh::Topology;
using devmesh::Trust;
using Labels = std::map<std::string, std::string>;

inline constexpr const char* kExported = "mirror.strait.dev/exported";
inline constexpr const char* kFederated = "mirror.strait.dev/federated";
inline constexpr const char* kExportTo = "mirror.strait.dev/export-to";

// A Service manifest in namespace shop: port 80 -> 8080, with labels and annotations.
std::string service_yaml(const std::string& name, const Labels& labels,
                         const Labels& annotations = {});

class MulticlusterTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The clusters, each with controller, gateway, strait-link and a client pod.
  Result<void> up(const std::vector<std::string>& clusters, Topology topology,
                  Trust trust = Trust::shared);
  DevMesh& m() { return *mesh_; }

  // An http workload <cluster>/<pod> ("hello from <cluster>-<pod>") registered as `service` in
  // shop, and the Service itself with `labels` (export labels).
  Result<void> http_service(const std::string& cluster, const std::string& pod,
                            const std::string& service, const Labels& labels,
                            const Labels& annotations = {});

  // curl from `pod` until the body contains `expect`; false (and *last the last answer) when
  // the deadline passed first.
  bool curl_until(const std::string& pod, const std::string& url, const std::string& expect,
                  std::chrono::milliseconds deadline, std::string* last = nullptr);

  double metric(const std::string& pod, const std::string& name, const Labels& labels = {}) {
    return testing::metric_sum(m().metrics(pod), name, labels);
  }
  // Polls until metric(...) >= at_least.
  bool wait_metric(const std::string& pod, const std::string& name, const Labels& labels,
                   double at_least, std::chrono::milliseconds deadline);

  // The identity of a cluster's client pod.
  std::string client_id(const std::string& cluster);

  std::unique_ptr<DevMesh> mesh_;
  std::string work_;
};

#define ASSERT_OK(expr)                                                               \
  do {                                                                                \
    const auto& assert_ok_r_ = (expr);                                                \
    ASSERT_TRUE(assert_ok_r_.ok()) << #expr ": " << assert_ok_r_.error().to_string(); \
  } while (0)

}  // namespace strait::multicluster_it
