#!/usr/bin/env bash
# The main job: install dependencies, build, and run a whole multi-cluster mesh on this machine
# with `straitctl dev up` — clusters east and west as network namespaces, each with a controller,
# a gateway and strait-link, linked both ways, sample services exported through gateways, flat
# and federated, and a client in each cluster sending a steady trickle of requests. It stays up;
# `build/release/cli/straitctl dev down` removes it. Arguments go to `dev up`, e.g.
#   sudo ./scripts/main-job.sh --clusters east,west,north --topology mixed
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" Release straitctl strait-controller strait-proxy strait-init \
  strait-gateway strait-link strait-testapp
ctl="$root/build/release/cli/straitctl"

if [ "$(id -u)" -ne 0 ]; then
  # straitctl says plainly why it needs root.
  exec "$ctl" dev up "$@"
fi
# A mesh from an earlier run of this job is replaced, so the job always ends with a fresh one.
"$ctl" dev down
"$ctl" dev up "$@"
cat <<TXT

The mesh keeps running. Walkthrough (README, "A multi-cluster mesh on this machine"):
  $ctl dev status
  $ctl dev exec west/client -- curl -s http://web-east.shop/
  $ctl dev stop east/gateway; $ctl dev exec west/ctrl -- straitctl multicluster gateways
  $ctl dev down
TXT
