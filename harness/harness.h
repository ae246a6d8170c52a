// Harness: one run of simulated clusters on this machine. Clusters are router namespaces with a
// bridge, pods are namespaces with a veth on it, a shared "wan" namespace joins the routers, and
// the topology (flat or gateway) decides what crosses between clusters. It starts processes in
// pods and removes everything it made: on teardown(), in the destructor, and (through the state
// file) from `strait-harness down` after a crash. See docs/harness.md for the address plan.
//
//   auto h = Harness::create({}).value();
//   h->add_cluster("east"); h->add_pod("east", "server");
//   auto p = h->spawn("east/server", {"strait-testapp", "echo", "--listen", "0.0.0.0:9000"});
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "harness/process.h"
#include "harness/state.h"

namespace strait::harness {

enum class Topology { flat, gateway };
std::string topology_name(Topology t);
Result<Topology> parse_topology(const std::string& text);

struct HarnessOptions {
  std::string id;  // empty: 4 random [a-z0-9]
  std::string state_root = default_state_root();
  Topology topology = Topology::flat;
  std::chrono::milliseconds stop_grace{2000};  // SIGTERM -> SIGKILL on teardown
};

struct PodOptions {
  bool on_wan = false;  // a second interface (wan0) on the shared segment: for gateways
};

class Harness {
 public:
  // Creates the run's state directory and the wan namespace. Needs root.
  static Result<std::unique_ptr<Harness>> create(HarnessOptions options = {});
  // The run `id` that another process made and detached (straitctl dev), from its state file:
  // it can grow (add_pod) and shrink (remove_pod) here; the destructor leaves it running.
  // One process at a time may change a run (the caller serializes: straitctl dev locks).
  static Result<std::unique_ptr<Harness>> reopen(const std::string& state_root,
                                                 const std::string& id);
  ~Harness();  // teardown()
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  const std::string& id() const { return id_; }
  std::string prefix() const { return "st" + id_ + "-"; }  // every namespace name starts with it
  std::string wan_ns() const { return prefix() + "wan"; }
  std::string state_path() const;

  // Cluster i (in order of creation, from 1): router namespace st<id>-<name>.
  Result<ClusterInfo> add_cluster(const std::string& name);
  // Pod namespace st<id>-<cluster>-<pod> with the next free address of the cluster.
  Result<PodInfo> add_pod(const std::string& cluster, const std::string& pod,
                          PodOptions options = {});
  // Stops the pod's processes (SIGTERM, then SIGKILL after stop_grace) and removes its
  // namespace (with its interfaces) and resolver file; its address is free again.
  Result<void> remove_pod(const std::string& ref);
  // Applies at once to every existing and future cluster.
  Result<void> set_topology(Topology topology);
  Topology topology() const;
  // The run outlives this object and the process that made it (straitctl dev): the destructor
  // leaves it running, and `down --stale` counts it alive while any of its processes lives.
  // Spawn its processes with die_with_parent = false. teardown() still removes it.
  Result<void> detach();
  // Marks the run complete in the state file (phase "ready"), for watchers of the CLI.
  Result<void> mark_ready();

  std::vector<ClusterInfo> clusters() const;
  std::vector<PodInfo> pods() const;
  Result<ClusterInfo> cluster(const std::string& name) const;
  Result<PodInfo> pod(const std::string& ref) const;  // "cluster/pod"

  // The namespace a reference names: "cluster/pod" (a pod), "cluster" (its router), "wan", or
  // a full namespace name of this run.
  Result<std::string> netns_of(const std::string& ref) const;

  // Writes /etc/netns/<ns>/resolv.conf for the pod; processes spawned in it afterwards see it as
  // /etc/resolv.conf. Returns the file's path.
  Result<std::string> set_resolver(const std::string& pod_ref,
                                   const std::vector<std::string>& nameservers,
                                   const std::vector<std::string>& search = {});

  // Starts a process in the pod (see spawn_in); it is stopped on teardown.
  Result<Process> spawn(const std::string& ref, const std::vector<std::string>& argv,
                        SpawnOptions options = {});
  // Runs to completion (see exec_in).
  Result<ExecResult> exec(const std::string& ref, const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout, SpawnOptions options = {});

  Result<UniqueFd> connect(const std::string& ref, const std::string& address, Deadline deadline);
  Result<void> wait_for_tcp(const std::string& ref, const std::string& address, Deadline deadline);
  Result<void> wait_for_http_ok(const std::string& ref, const std::string& url, Deadline deadline);

  // Stops every spawned process (SIGTERM, then SIGKILL after stop_grace), kills anything else
  // left in the run's namespaces, deletes them and the state directory. Idempotent.
  Result<void> teardown();

  // Human table of namespaces and addresses.
  std::string describe() const;

 private:
  Harness(HarnessOptions options, std::string id);
  Result<void> save_locked();
  Result<void> create_ns_locked(const std::string& name);
  Result<void> apply_topology_locked(const ClusterInfo& c);
  Result<std::string> netns_of_locked(const std::string& ref) const;
  Result<std::string> resolve_pod_ns(const std::string& ref, std::string* resolv) const;
  // The lowest pod address (host number) of a cluster that no pod holds, and wan slot.
  int free_host_locked(const ClusterInfo& c) const;
  int free_wan_slot_locked() const;

  HarnessOptions options_;
  const std::string id_;
  mutable std::mutex mu_;
  RunState state_;
  Topology topology_;
  std::map<std::string, int> next_host_;             // cluster -> next free host number
  int next_wan_pod_ = 0;                             // k for 198.18.250.(100+k)
  std::map<std::string, std::string> resolv_files_;  // pod ns -> resolv.conf path
  std::vector<Process> processes_;
  bool torn_down_ = false;
  bool detached_ = false;
};

}  // namespace strait::harness
