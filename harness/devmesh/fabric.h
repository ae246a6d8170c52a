// Fabric: where a DevMesh's pods live. netns: each pod its own network namespace on the harness
// (bridges, routes, the topology's isolation, interception with strait-init; needs root).
// loopback: every pod is an address 127.0.<cluster>.<n> on this host's loopback (no root, no
// isolation, no interception: workloads reach the mesh through their proxy's explicit port).
// The fabric starts processes in pods, knows which processes a pod runs (also those another
// process started), removes everything it made, and describes itself for a later attach.
#pragma once

#include <sys/types.h>

#include <boost/json/value.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "harness/harness.h"

namespace strait::devmesh {

class Fabric {
 public:
  virtual ~Fabric() = default;
  virtual std::string kind() const = 0;  // "netns" | "loopback"
  // Pods are network namespaces: interception (strait-init) and the topology's isolation apply.
  virtual bool isolated() const = 0;
  virtual std::string run_id() const = 0;

  virtual Result<harness::ClusterInfo> add_cluster(const std::string& name) = 0;
  // on_wan: also reachable from other clusters (gateways, controllers).
  virtual Result<harness::PodInfo> add_pod(const std::string& cluster, const std::string& pod,
                                           bool on_wan) = 0;
  // Stops every process of the pod and removes it (its namespace, on netns).
  virtual Result<void> remove_pod(const std::string& ref) = 0;
  // The namespace of a reference ("cluster/pod", "cluster", "wan"); "" on loopback.
  virtual Result<std::string> netns_of(const std::string& ref) const = 0;
  virtual Result<harness::Process> spawn(const std::string& ref,
                                         const std::vector<std::string>& argv,
                                         const harness::SpawnOptions& options) = 0;
  // The live processes of a pod, whoever started them.
  virtual std::vector<pid_t> pids(const std::string& ref) const = 0;
  // The harness run behind a netns fabric; nullptr on loopback.
  virtual harness::Harness* harness() = 0;
  // Stops every process of the mesh and removes every namespace (netns). Idempotent.
  virtual Result<void> teardown() = 0;
  virtual boost::json::value to_json() const = 0;
};

// A new harness run (root). detached: it outlives this process (straitctl dev).
Result<std::unique_ptr<Fabric>> make_netns_fabric(const harness::HarnessOptions& options,
                                                  bool detached);
// The harness run `id` that another process made.
Result<std::unique_ptr<Fabric>> attach_netns_fabric(const std::string& state_root,
                                                    const std::string& id);
// Loopback pods. `changed` is called after each change worth saving (a process started).
std::unique_ptr<Fabric> make_loopback_fabric(std::function<void()> changed);
Result<std::unique_ptr<Fabric>> attach_loopback_fabric(const boost::json::value& description,
                                                       std::function<void()> changed);

}  // namespace strait::devmesh
