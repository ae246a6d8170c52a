#!/usr/bin/env bash
# The main job: install dependencies, build, and bring up one cluster's control plane with
# certificates issued and a workload registered, then print its status. (This grows into
# `straitctl dev up`: a whole multi-cluster mesh on this machine.)
#   --keep   leave the controller and the workload running (stop them with Ctrl-C)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
keep=0
[ "${1:-}" = "--keep" ] && keep=1

"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" Release straitctl strait-controller strait-proxy strait-gateway
bin="$root/build/release"
ctl="$bin/cli/straitctl"

state="$(mktemp -d /tmp/strait-main.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "straitctl install: trust anchor, issuer and controller config in $state"
"$ctl" install --cluster-name east --trust-domain east.strait --state-dir "$state" \
  --identity-listen 127.0.0.1:0 --destination-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --export-listen 127.0.0.1:0

step "strait-controller: start"
"$bin/controlplane/strait-controller" --config "$state/controller.yaml" 2>"$state/controller.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -f "$state/run/endpoints.json" ] && break; sleep 0.1; done
[ -f "$state/run/endpoints.json" ] || { cat "$state/controller.log"; echo "controller did not start"; exit 1; }
cat "$state/run/endpoints.json"
export STRAIT_STATE_DIR="$state"

step "straitctl apply: a service, a server and an authorization policy"
cat > "$state/web.yaml" <<'YAML'
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 8080, protocol: http1}]
---
apiVersion: strait.dev/v1alpha1
kind: Server
metadata: {name: web-http, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  port: 8080
---
apiVersion: strait.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: web-from-shop, namespace: shop}
spec:
  targetRef: {kind: Server, name: web-http}
  requiredAuthentication: {identities: ["spiffe://east.strait/ns/shop/*"]}
YAML
"$ctl" apply -f "$state/web.yaml"

step "straitctl token + register: a workload certifies with a join token and registers"
token="$("$ctl" token --namespace shop --service-account web --ttl 10m)"
"$ctl" register --service web --port 8080 --namespace shop --service-account web \
  --token "$token" --name web-0 >"$state/register.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "registered endpoint" "$state/register.log" && break; sleep 0.1; done
cat "$state/register.log"

step "status"
"$ctl" status
echo
"$ctl" get services
echo
"$ctl" get endpoints
echo
"$ctl" get policies

if [ "$keep" = 1 ]; then
  step "running; state in $state; Ctrl-C stops everything"
  wait
fi
