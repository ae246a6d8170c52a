// straitctl dev: a whole multi-cluster mesh on this machine (harness/devmesh), for people trying
// Strait. up builds it (clusters, gateways, links, sample workloads, steady traffic) and leaves it
// running; status shows it; exec runs a command in a pod; logs prints a component's log; down
// removes everything it made.
#pragma once

#include "cli/args.h"

namespace strait::cli {

int cmd_dev(const Args& args);

}  // namespace strait::cli
