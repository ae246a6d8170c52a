// The status table of a dev mesh: clusters and their components, links (gateway alive, probe
// latency), mirrored and federated services with endpoint counts, and one live request through
// each topology with its result and latency, and the golden metrics of each cluster's client
// (request rate, success rate, p99 per destination service, from its proxy's metrics). Printed
// by `dev up` at the end and by `dev status`.
#pragma once

#include <ostream>

#include "harness/devmesh/devmesh.h"

namespace strait::cli::dev {

// Prints the tables; returns false when something is not healthy (a component down, a mirror
// without ready endpoints, a failed request).
bool print_status(devmesh::DevMesh& mesh, std::ostream& out);

// The HTTP request or TCP echo of one sample through a mirror, from a client pod.
struct Probe {
  bool ok = false;
  std::string result;  // "200 hello from east-web", "echo ok", or the error
  double ms = 0;
};
Probe live_request(devmesh::DevMesh& mesh, const std::string& client_pod, const std::string& vip,
                   std::uint16_t port, bool http);

}  // namespace strait::cli::dev
