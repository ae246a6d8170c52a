// straitctl dev run / rm.
#include "cli/dev/dev_run.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "topologies/labels.h"
#include "topologies/mirror.h"

namespace strait::cli::dev {
namespace fs = std::filesystem;

namespace {

bool valid_label(const std::string& s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

std::string ports_text(const std::vector<std::uint16_t>& ports) {
  std::string out;
  for (auto p : ports) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

// Where run keeps the manifest it applied (rm deletes what it names).
std::string manifest_path(const devmesh::DevMesh& m, const std::string& cluster,
                          const std::string& pod) {
  return m.options().work_dir + "/" + cluster + "/run-" + pod + ".yaml";
}

// Deletes the Service (and ServiceExport) that run applied for the pod, unless another workload
// of the mesh still registers under it. True when it deleted them.
Result<bool> delete_run_service(devmesh::DevMesh& m, const std::string& cluster,
                                const std::string& pod, const std::string& ns,
                                const std::string& service) {
  const std::string manifest = manifest_path(m, cluster, pod);
  std::error_code ec;
  if (!fs::exists(manifest, ec)) return false;
  for (const auto& w : m.workloads()) {
    if (!service.empty() && w.spec.cluster == cluster && w.spec.ns == ns &&
        w.spec.service == service) {
      fs::remove(manifest, ec);
      return false;
    }
  }
  if (auto d = m.straitctl(cluster, {"delete", "-f", manifest}); !d) return d.error();
  fs::remove(manifest, ec);
  return true;
}

}  // namespace

Result<RunRequest> parse_run(const Args& args) {
  const auto& p = args.positional();  // dev run REF COMMAND...
  const std::string usage =
      "usage: straitctl dev run CLUSTER/POD [--namespace NS] [--service NAME --port N[,N...]] "
      "[--export gateway|flat|federated] -- COMMAND [ARGS...]";
  if (p.size() < 4) return make_error("usage", usage);
  RunRequest r;
  const auto slash = p[2].find('/');
  if (slash == std::string::npos) return make_error("usage", usage);
  r.cluster = p[2].substr(0, slash);
  r.pod = p[2].substr(slash + 1);
  if (!valid_label(r.pod) || r.pod.size() > 32 || r.pod == "ctrl" || r.pod == "gw") {
    return make_error("bad_pod", "pod name \"" + r.pod +
                                     "\": [a-z0-9-]{1,32}, and not ctrl or gw (the cluster's own)");
  }
  r.ns = args.get_or("namespace", "default");
  if (!valid_label(r.ns))
    return make_error("bad_namespace", "namespace \"" + r.ns + "\" is not a DNS label");
  r.service = args.get_or("service", "");
  if (!r.service.empty() && !valid_label(r.service)) {
    return make_error("bad_service", "service \"" + r.service + "\" is not a DNS label");
  }
  const std::string ports = args.get_or("port", "");
  for (std::size_t at = 0; at <= ports.size() && !ports.empty();) {
    const auto comma = std::min(ports.find(',', at), ports.size());
    const std::string word = ports.substr(at, comma - at);
    int v = 0;
    auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
    if (word.empty() || ec != std::errc() || end != word.data() + word.size() || v <= 0 ||
        v > 65535) {
      return make_error("bad_port", "--port: \"" + word + "\" is not a port (1..65535)");
    }
    for (auto q : r.ports) {
      if (q == v) return make_error("bad_port", "--port: " + word + " given twice");
    }
    r.ports.push_back(static_cast<std::uint16_t>(v));
    at = comma + 1;
  }
  if (!r.service.empty() && r.ports.empty()) {
    return make_error("bad_port", "--service needs --port: the ports the command serves");
  }
  r.exported = args.get_or("export", "");
  if (!r.exported.empty() && r.exported != "gateway" && r.exported != "flat" &&
      r.exported != "federated") {
    return make_error("bad_export", "--export must be gateway, flat or federated");
  }
  if (!r.exported.empty() && r.service.empty()) {
    return make_error("bad_export", "--export needs --service: a service is what is exported");
  }
  r.command.assign(p.begin() + 3, p.end());
  return r;
}

std::string run_manifest(const RunRequest& r) {
  std::string labels = "app: " + r.pod;
  if (r.exported == "gateway") labels += ", " + std::string(topologies::kExported) + ": \"true\"";
  if (r.exported == "flat")
    labels += ", " + std::string(topologies::kExported) + ": remote-discovery";
  std::string ports;
  for (auto p : r.ports) {
    ports += std::string(ports.empty() ? "" : ", ") + "{name: tcp-" + std::to_string(p) +
             ", port: " + std::to_string(p) + "}";
  }
  std::string yaml =
      "apiVersion: strait.dev/v1alpha1\nkind: Service\nmetadata:\n  name: " + r.service +
      "\n  namespace: " + r.ns + "\n  labels: {" + labels + "}\nspec:\n  ports: [" + ports + "]\n";
  if (r.exported == "federated") {
    yaml +=
        "---\napiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata:\n"
        "  name: " +
        r.service + "\n  namespace: " + r.ns + "\n";
  }
  return yaml;
}

std::vector<std::string> run_names(const RunRequest& r, const std::vector<std::string>& clusters) {
  std::vector<std::string> out;
  if (r.service.empty()) return out;
  const std::string local = r.service + "." + r.ns;
  out.push_back("in " + r.cluster + ": " + local + " (" + local + ".svc.cluster.local)");
  for (const auto& c : clusters) {
    if (c == r.cluster) continue;
    if (r.exported == "gateway" || r.exported == "flat") {
      const std::string mirror = topologies::mirror_name(r.service, r.cluster) + "." + r.ns;
      out.push_back("in " + c + ": " + mirror + " (" + r.exported + ")");
    }
  }
  if (r.exported == "federated") {
    out.push_back("in every cluster: " + r.service + "." + r.ns + ".svc.clusterset.local, " +
                  topologies::federated_name(r.service) + "." + r.ns +
                  " (federated: every exporting cluster's endpoints)");
  }
  return out;
}

int run(devmesh::DevMesh& m, const RunRequest& r) {
  auto cluster = m.cluster(r.cluster);
  if (!cluster) return fail(cluster.error().message);
  if (m.options().topology == devmesh::Topology::gateway &&
      (r.exported == "flat" || r.exported == "federated")) {
    return fail("--export " + r.exported +
                " needs routed pod networks; this mesh's topology is gateway (use --export "
                "gateway)");
  }
  for (const auto& w : m.workloads()) {
    if (w.spec.cluster == r.cluster && w.spec.pod == r.pod) {
      return fail("pod " + r.cluster + "/" + r.pod + " exists (`straitctl dev rm " + r.cluster +
                  "/" + r.pod + "` removes it)");
    }
  }
  if (!r.service.empty()) {
    const std::string manifest = run_manifest(r);
    if (auto a = m.apply(r.cluster, manifest); !a) return fail(a.error().message);
    std::ofstream(manifest_path(m, r.cluster, r.pod), std::ios::trunc) << manifest;
  }
  devmesh::WorkloadSpec spec;
  spec.cluster = r.cluster;
  spec.pod = r.pod;
  spec.ns = r.ns;
  spec.app = devmesh::App::command;
  spec.command = r.command;
  spec.ports = r.ports;
  spec.service = r.service;
  auto w = m.add_workload(spec);
  if (!w) {
    // Nothing half-made stays: the pod is gone already, and so goes the Service applied for it.
    (void)delete_run_service(m, r.cluster, r.pod, r.ns, r.service);
    return fail("dev run: " + w.error().message);
  }
  std::cout << r.cluster << "/" << r.pod << ": running " << r.command.front() << " at " << w->pod.ip
            << " as " << w->identity << "\n";
  if (!r.service.empty()) {
    std::cout << "service " << r.ns << "/" << r.service << " ports " << ports_text(r.ports)
              << (r.exported.empty() ? ", not exported" : ", exported " + r.exported) << "\n";
    std::vector<std::string> clusters;
    for (const auto& c : m.clusters()) clusters.push_back(c.name);
    for (const auto& n : run_names(r, clusters)) std::cout << "  " << n << "\n";
  }
  std::cout << "logs: straitctl dev logs " << r.cluster << "/" << r.pod
            << "/app (the command), dev logs " << r.cluster << "/" << r.pod
            << " (its proxy); straitctl dev rm " << r.cluster << "/" << r.pod << " removes it\n";
  return 0;
}

int rm(devmesh::DevMesh& m, const std::string& ref) {
  const auto slash = ref.find('/');
  if (slash == std::string::npos) return fail("usage: straitctl dev rm CLUSTER/POD");
  const std::string cluster = ref.substr(0, slash), pod = ref.substr(slash + 1);
  std::string service, ns;
  bool found = false;
  for (const auto& w : m.workloads()) {
    if (w.spec.cluster + "/" + w.spec.pod != ref) continue;
    found = true;
    if (w.spec.app != devmesh::App::command) {
      return fail(ref + " is one of dev up's samples; dev rm removes what dev run started");
    }
    service = w.spec.service;
    ns = w.spec.ns;
  }
  if (found) {
    if (auto r = m.remove_workload(ref); !r) return fail("dev rm: " + r.error().message);
  }
  auto removed_service = delete_run_service(m, cluster, pod, ns, service);
  if (!removed_service) {
    return fail("dev rm: the pod is gone, its service stays: " + removed_service.error().message);
  }
  if (!found && !*removed_service) return fail("no workload " + ref + " that dev run started");
  std::cout << "removed " << ref
            << (*removed_service ? " and service " + ns + "/" + service : std::string()) << "\n";
  return 0;
}

}  // namespace strait::cli::dev
