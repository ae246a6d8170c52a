// The fixture of the multicluster end-to-end tests: a DevMesh (harness/devmesh) of real
// controllers, gateways, strait-link and meshed pods in network namespaces, torn down after each
// test (on failure too, after printing every log). Each cluster gets a client pod (front/client,
// meshed, no application); services live in namespace "shop".
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "core/base/result.h"
#include "core/discovery/model.h"
#include "harness/devmesh/devmesh.h"
#include "tests/support/assert_ok.h"
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
  // controller_flags: given to every controller (e.g. "--dns.upstreams=127.0.0.1").
  Result<void> up(const std::vector<std::string>& clusters, Topology topology,
                  Trust trust = Trust::shared, std::vector<std::string> controller_flags = {});
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

  // Every object of a kind ("services", "endpoints", "links", ...) in a cluster's store, in one
  // namespace or ("") in all of them (straitctl get -o json).
  Result<std::vector<discovery::Object>> list(const std::string& cluster, const std::string& kind,
                                              const std::string& ns = "");

  // Services and endpoints (every namespace) in `cluster`'s store that came from cluster `from`
  // (their meta.cluster; what a Link to `from` wrote, federated endpoints included), as
  // "Service ns/name" and "Endpoint ns/name".
  Result<std::set<std::string>> objects_from(const std::string& cluster, const std::string& from);

  // strait-link's /links entry in `cluster` for the Link to `target`; null when there is none
  // (or strait-link did not answer).
  boost::json::value link_entry(const std::string& cluster, const std::string& target);
  // The number of Links strait-link in `cluster` reports; -1 when it did not answer.
  int link_count(const std::string& cluster);

  // Requests `url` from `pod` until every body in `want` was seen; false when the deadline
  // passed first. *seen gets every distinct body (an error: "error: <message>").
  bool collect_bodies(const std::string& pod, const std::string& url,
                      const std::set<std::string>& want, std::chrono::milliseconds deadline,
                      std::set<std::string>* seen = nullptr);

  // `straitctl multicluster gateways -o json` in `cluster`: the row of `target`; null when
  // the command failed or has no such row (*out gets its output).
  boost::json::value gateway_row(const std::string& cluster, const std::string& target,
                                 std::string* out = nullptr);

  std::unique_ptr<DevMesh> mesh_;
  std::string work_;
};

// A field of a JSON object by dotted path ("credentials.error"); null when absent. json_text:
// the same when it is a string, else "".
boost::json::value json_at(const boost::json::value& v, const std::string& path);
std::string json_text(const boost::json::value& v, const std::string& path);

}  // namespace strait::multicluster_it
