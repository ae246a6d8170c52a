// The sample workloads of `straitctl dev up`.
#include "cli/dev/dev_plan.h"

#include "topologies/labels.h"
#include "topologies/mirror.h"

namespace strait::cli::dev {

std::vector<SampleService> samples(devmesh::Topology topology) {
  using devmesh::App;
  switch (topology) {
    case devmesh::Topology::gateway:
      return {{"web", App::http, 80, "gateway"}, {"echo", App::echo, 9000, "gateway"}};
    case devmesh::Topology::flat:
      return {{"web", App::http, 80, "flat"},
              {"echo", App::echo, 9000, "flat"},
              {"api", App::http, 80, "federated"}};
    case devmesh::Topology::mixed:
      break;
  }
  return {{"web", App::http, 80, "gateway"},
          {"echo", App::echo, 9000, "flat"},
          {"api", App::http, 80, "federated"}};
}

std::string service_manifest(const SampleService& s) {
  std::string label;
  if (s.mode == "gateway") label = std::string(topologies::kExported) + ": \"true\"";
  if (s.mode == "flat") label = std::string(topologies::kExported) + ": remote-discovery";
  if (s.mode == "federated") label = std::string(topologies::kFederated) + ": member";
  const std::string target = s.app == devmesh::App::http ? "8080" : "9000";
  return "apiVersion: strait.dev/v1alpha1\nkind: Service\nmetadata:\n  name: " + s.name +
         "\n  namespace: shop\n  labels: {app: " + s.name + ", " + label +
         "}\nspec:\n  ports: [{name: " + (s.app == devmesh::App::http ? "http" : "tcp") +
         ", port: " + std::to_string(s.port) + ", targetPort: " + target + "}]\n";
}

std::string mirror_of(const SampleService& s, const std::string& remote_cluster) {
  return s.mode == "federated" ? topologies::federated_name(s.name)
                               : topologies::mirror_name(s.name, remote_cluster);
}

std::string dns_name_of(const SampleService& s, const std::string& remote_cluster) {
  return s.mode == "federated" ? s.name + ".shop.svc.clusterset.local"
                               : mirror_of(s, remote_cluster) + ".shop";
}

}  // namespace strait::cli::dev
