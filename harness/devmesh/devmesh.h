// DevMesh: a whole multi-cluster Strait mesh on this machine, built from the real binaries in
// harness namespaces. Each cluster gets a controller pod (on the wan segment too, so that other
// clusters reach its export and identity ports), a gateway pod (on the wan), strait-link beside
// the controller, and meshed workload pods (strait-init, strait-proxy, a sample application).
// Clusters are linked with `straitctl multicluster link-gen` / `apply`, exactly as a user would.
// The multicluster end-to-end tests and `straitctl dev` both build on it.
//
//   auto m = DevMesh::create({.work_dir = "/tmp/x", .topology = Topology::gateway}).value();
//   m->add_cluster("east"); m->add_cluster("west");
//   m->add_workload({.cluster = "east", .pod = "web", .ns = "shop", .app = App::http, ...});
//   m->link("west", "east");   // west mirrors what east exports
//   m->curl("west/client", "http://" + m->service_vip("west", "shop", "web-east").value());
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "core/discovery/model.h"
#include "harness/devmesh/fabric.h"
#include "harness/harness.h"

namespace strait::devmesh {

using namespace std::chrono_literals;

// What connects the clusters' pod networks. gateway: only the gateways (and controllers) are
// reachable across clusters; flat and mixed: pod networks are routed to each other. mixed is
// flat routing with services exported in every mode (gateway, flat and federated).
enum class Topology { gateway, flat, mixed };
std::string topology_name(Topology t);
Result<Topology> parse_topology(const std::string& text);

// shared: one trust anchor signs every cluster's issuer, one trust domain (strait.local).
// separate: each cluster its own anchor and trust domain (<cluster>.strait).
enum class Trust { shared, separate };

// Where the programs are: a build tree (build/<type>/cli/straitctl, ...) or one directory.
struct Binaries {
  std::string controller, proxy, init, gateway, link, straitctl, testapp;
  static Binaries from_build_dir(const std::string& dir);
  // From the running program's own path (/proc/self/exe): its build tree, or its directory.
  static Result<Binaries> locate();
  Result<void> check() const;  // every file exists and is executable
};

inline constexpr std::uint32_t kProxyUid = 2102;  // strait-proxy's user: strait-init skips it
// Loopback meshes: the proxies' explicit (CONNECT) outbound port on their pod's address.
inline constexpr std::uint16_t kExplicitPort = 4141;

struct Options {
  std::string work_dir;  // state directories, configs, logs; created (must not hold a mesh)
  std::string id;        // harness run id ("" = random)
  std::string harness_state_root = harness::default_state_root();
  Topology topology = Topology::mixed;
  Trust trust = Trust::shared;
  Binaries bin;
  // Processes outlive this object (straitctl dev): not tied to the creating thread, and the
  // destructor leaves everything running (teardown() still removes it all).
  bool detached = false;
  // Pods as 127.0.<cluster>.<n> addresses on this host instead of namespaces: no root, no
  // isolation between clusters, no interception — workloads use their proxy's explicit port.
  bool loopback = false;
  // Each step as it starts ("east: controller ..."); may be empty.
  std::function<void(const std::string&)> progress;
  std::vector<std::string> controller_flags;  // e.g. "--identity.certLifetime=1h"
};

struct ClusterView {
  std::string name;
  std::string trust_domain;
  std::string domain = "cluster.local";
  harness::ClusterInfo net;
  std::string ctrl_ip, ctrl_wan_ip;        // the controller pod
  std::string gateway_ip, gateway_wan_ip;  // the gateway pod
  std::string state_dir;                   // the controller's state directory
  std::string gateway_identity() const {
    return "spiffe://" + trust_domain + "/ns/strait-multicluster/sa/strait-gateway";
  }
};

// command: the user's own program (WorkloadSpec::command), as `straitctl dev run` starts it.
enum class App { none, http, echo, command };

struct WorkloadSpec {
  std::string cluster;
  std::string pod;  // pod name inside the cluster
  std::string ns = "default";
  std::string service_account;  // "" = pod name
  App app = App::none;
  std::uint16_t port = 0;  // the application's port (http: 8080, echo: 9000 by default)
  std::string name;        // http: the answer is "hello from <name>" ("" = <cluster>-<pod>)
  std::string service;     // "" = no registration; else the proxy registers its endpoint
  bool intercept = true;   // strait-init in the pod
  // App::command: the program and its arguments (run as root in the pod, with POD_IP and the
  // mesh's programs on PATH), and every port it serves (ready once each accepts; several ports
  // register one endpoint listing them all). `port` is then the first of them.
  std::vector<std::string> command;
  std::vector<std::uint16_t> ports;
};

struct WorkloadView {
  WorkloadSpec spec;
  harness::PodInfo pod;
  std::string identity;  // spiffe://<td>/ns/<ns>/sa/<sa>
};

// A service of one cluster as its store has it.
struct ServiceView {
  discovery::Service service;
  std::vector<discovery::Endpoint> endpoints;
  int ready() const;
};

class DevMesh {
 public:
  static Result<std::unique_ptr<DevMesh>> create(Options options);
  // Reopens the mesh that save() described in `work_dir` (built by another process): queries,
  // exec and curl work, workloads can be added and removed (one process at a time: straitctl
  // dev locks); its processes are found by their pods (stop/start work too); teardown() removes
  // everything. Error code no_mesh when there is none.
  static Result<std::unique_ptr<DevMesh>> attach(const std::string& work_dir);
  ~DevMesh();  // teardown() unless detached (or attached)
  DevMesh(const DevMesh&) = delete;
  DevMesh& operator=(const DevMesh&) = delete;

  // A cluster: controller, gateway and strait-link, each up and ready.
  Result<ClusterView> add_cluster(const std::string& name);
  // A meshed pod with its application; waits until its proxy is ready. On failure the pod is
  // removed again.
  Result<WorkloadView> add_workload(WorkloadSpec spec);
  // Stops a workload's processes and removes its pod ("cluster/pod"); its proxy's registration
  // ends with it.
  Result<void> remove_workload(const std::string& ref);

  // link-gen against `to` for `from` (the YAML, token included); `ttl` as straitctl takes it.
  Result<std::string> link_gen(const std::string& to, const std::string& from,
                               const std::string& ttl = "15m");
  // link_gen + apply in `from`: `from` then mirrors what `to` exports.
  Result<void> link(const std::string& from, const std::string& to);

  // straitctl against a cluster's controller (run in its controller pod).
  Result<std::string> straitctl(const std::string& cluster, std::vector<std::string> args,
                                std::chrono::milliseconds timeout = 30s);
  Result<void> apply(const std::string& cluster, const std::string& yaml);
  Result<ServiceView> service(const std::string& cluster, const std::string& ns,
                              const std::string& name);
  Result<std::string> service_vip(const std::string& cluster, const std::string& ns,
                                  const std::string& name);
  // Polls until the service exists with at least `ready` ready endpoints (exactly, if `exact`).
  Result<ServiceView> wait_service(const std::string& cluster, const std::string& ns,
                                   const std::string& name, int ready,
                                   std::chrono::milliseconds deadline, bool exact = false);

  // Runs a command in a pod ("cluster/pod"), as root (so a meshed pod's rules redirect it).
  harness::ExecResult exec(const std::string& pod, const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = 15s);
  // curl -sS from a pod: the body, or an error with curl's message.
  Result<std::string> curl(const std::string& pod, const std::string& url,
                           std::chrono::milliseconds timeout = 5s);
  // A proxy's metrics ("cluster/pod"; gateways' admin port speaks TLS); "" when unreachable.
  std::string metrics(const std::string& pod);
  // strait-link's /links of a cluster (JSON text), "" when unreachable.
  std::string link_status(const std::string& cluster);

  // Starts a process of one's own in a pod, logged to <cluster>-<pod>-<name>.log; stop(cluster,
  // "<pod>/<name>") stops it (while this object made it).
  Result<void> start_process(const std::string& pod, const std::string& name,
                             const std::vector<std::string>& argv);

  // Components of a cluster by name: "controller", "gateway", "link".
  Result<void> stop(const std::string& cluster, const std::string& component);
  Result<void> start(const std::string& cluster, const std::string& component);
  bool running(const std::string& cluster, const std::string& component);
  // The live processes of a pod ("cluster/pod"), whoever started them.
  std::vector<pid_t> pids(const std::string& pod) const { return fabric_->pids(pod); }

  // The harness run (netns fabric only; a loopback mesh has none).
  harness::Harness& net() { return *fabric_->harness(); }
  bool loopback() const { return !fabric_->isolated(); }
  // How a client in `pod` reaches the mesh: curl arguments ({} when its traffic is intercepted;
  // else --proxytunnel -x http://<pod>:<explicit port>), and that "host:port" ("" intercepted).
  std::vector<std::string> curl_via(const std::string& pod) const;
  std::string explicit_proxy(const std::string& pod) const;
  const Options& options() const { return options_; }
  Result<ClusterView> cluster(const std::string& name) const;
  std::vector<ClusterView> clusters() const { return clusters_; }
  std::vector<WorkloadView> workloads() const { return workloads_; }
  std::string log_path(const std::string& name) const;  // <work>/logs/<name>.log
  // Every log (tails) and the state of every process: for failure reports.
  std::string logs();

  // The network namespace of "cluster/pod", "cluster" (its router) or "wan".
  Result<std::string> netns_of(const std::string& ref) const;
  // The harness run's id.
  std::string run_id() const { return fabric_->run_id(); }

  // Writes <work>/devmesh.json (what `straitctl dev` reads back), with the phase: "building"
  // until mark_ready().
  Result<void> save() const;
  Result<void> mark_ready();
  bool ready() const { return phase_ == "ready"; }
  Result<void> teardown();

  // The resolver configuration set_resolver wrote for a pod's namespace ("" when none): read
  // from the file, so that an attached mesh finds it too.
  static std::string resolver_of(const std::string& netns);

 private:
  explicit DevMesh(Options options);
  Result<void> install(ClusterView& c);
  Result<void> start_controller(const ClusterView& c);
  Result<void> start_gateway(const ClusterView& c);
  Result<void> start_link(const ClusterView& c);
  // The pod's processes (resolver, strait-init, application, proxy) in a pod made for it.
  Result<WorkloadView> start_workload(const ClusterView& c, WorkloadSpec spec,
                                      const harness::PodInfo& pod);
  Result<void> start_command(const WorkloadSpec& spec, const harness::PodInfo& pod);
  Result<std::string> write_proxy_config(const ClusterView& c, const std::string& name,
                                         const std::string& ns, const std::string& sa,
                                         const std::string& extra_yaml);
  harness::SpawnOptions logged(const std::string& name) const;
  // By namespace, so that an attached mesh works too.
  Result<harness::Process> spawn(const std::string& ref, const std::vector<std::string>& argv,
                                 harness::SpawnOptions options);
  Result<void> wait_for_tcp(const std::string& ref, const std::string& address,
                            harness::Deadline deadline);
  Result<void> wait_for_http_ok(const std::string& ref, const std::string& url,
                                harness::Deadline deadline);
  std::string component_pod(const std::string& cluster, const std::string& component) const;
  std::string component_binary(const std::string& component) const;
  // Where servers of a pod listen: every address in a namespace, the pod's own on loopback.
  std::string listen_ip(const std::string& pod_ip) const;
  void progress(const std::string& step) const;
  std::string file(const std::string& rel) const;

  Options options_;
  std::unique_ptr<Fabric> fabric_;
  std::string anchor_cert_pem_, anchor_key_pem_;  // shared trust: the one root
  std::vector<ClusterView> clusters_;
  std::vector<WorkloadView> workloads_;
  std::map<std::string, harness::Process> processes_;  // "<cluster>/<component>" -> process
  bool attached_ = false;
  std::string phase_ = "building";
  int manifests_ = 0;
};

}  // namespace strait::devmesh
