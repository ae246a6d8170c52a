// straitctl dev run / dev rm: a workload of the user's own in the dev mesh. run starts a meshed
// pod (strait-init, strait-proxy, the user's command as its application), optionally with a
// Service that it registers under and that is exported in one of the three modes; rm removes the
// pod, and the Service when run made it and no other workload of the mesh serves it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/args.h"
#include "core/base/result.h"
#include "harness/devmesh/devmesh.h"

namespace strait::cli::dev {

struct RunRequest {
  std::string cluster, pod;
  std::string ns = "default";
  std::string service;               // "" = not registered
  std::vector<std::uint16_t> ports;  // what the command serves
  std::string exported;              // "" | gateway | flat | federated
  std::vector<std::string> command;
};

// From `dev run CLUSTER/POD [--namespace NS] [--service NAME --port N[,N...]]
// [--export gateway|flat|federated] -- COMMAND ARGS...`; a clear error for each mistake.
Result<RunRequest> parse_run(const Args& args);

// The objects run applies: the Service (port names tcp-<port>, targetPort = port) with its
// export label, and for federated a ServiceExport (MCS) instead of the label.
std::string run_manifest(const RunRequest& r);

// The names the service answers to: in its own cluster, and in each other cluster of the mesh.
std::vector<std::string> run_names(const RunRequest& r, const std::vector<std::string>& clusters);

int run(devmesh::DevMesh& m, const RunRequest& r);
int rm(devmesh::DevMesh& m, const std::string& ref);

}  // namespace strait::cli::dev
