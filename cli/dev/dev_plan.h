// What `straitctl dev up` deploys: per cluster a client pod (front/client) that sends a trickle of
// requests, and the sample services in namespace shop — web (HTTP), echo (TCP) and api (HTTP, a
// federated member) — exported as the topology allows; and which mirrors to wait for.
#pragma once

#include <string>
#include <vector>

#include "harness/devmesh/devmesh.h"

namespace strait::cli::dev {

struct SampleService {
  std::string name;    // Service and pod name in namespace shop
  devmesh::App app;    // http or echo
  std::uint16_t port;  // service port (targetPort = the app's port)
  std::string mode;    // gateway | flat | federated
};

// The samples a topology gets: gateway exports everything through gateways (no federated
// service: its endpoints are remote pods, unreachable there); flat exports everything to be
// reached pod to pod; mixed does each mode once (web through gateways, echo flat, api federated).
std::vector<SampleService> samples(devmesh::Topology topology);

// The Service manifest of a sample in a cluster, with its export label.
std::string service_manifest(const SampleService& s);

// Mirror names a cluster has once linked to every other: <svc>-<other> and <svc>-federated.
std::string mirror_of(const SampleService& s, const std::string& remote_cluster);
// The name a pod calls it by (its resolver's search list completes "<svc>.shop"): the mirror's,
// or for a federated service its MCS name (<svc>.shop.svc.clusterset.local).
std::string dns_name_of(const SampleService& s, const std::string& remote_cluster);

}  // namespace strait::cli::dev
