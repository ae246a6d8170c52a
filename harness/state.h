// The run's state file (<state_root>/<id>/state.json): what a run created, written before each
// namespace is made, so that `strait-harness down` can remove a run whose owner crashed. Also the
// clean-up of such runs (by id, all, or only those whose owner is dead).
#pragma once

#include <sys/types.h>

#include <ostream>
#include <string>
#include <vector>

#include "core/base/result.h"

namespace strait::harness {

// /run/strait-harness, or $STRAIT_HARNESS_STATE_DIR when set.
std::string default_state_root();

struct ClusterInfo {
  std::string name;
  int index = 0;          // 1, 2, 3...: pod subnet 198.18.<index>.0/24
  std::string router_ns;  // st<id>-<name>
  std::string pod_cidr;   // 198.18.<index>.0/24
  std::string router_ip;  // 198.18.<index>.1 (the pods' default gateway)
  std::string wan_ip;     // 198.18.250.<index>
  std::string
      service_cidr;  // 198.19.<16*(index-1)>.0/20 (virtual IPs; allocated by the controller)
};

struct PodInfo {
  std::string cluster;
  std::string name;
  std::string ns;      // st<id>-<cluster>-<name>
  std::string ip;      // 198.18.<index>.<N>, N from 10
  std::string wan_ip;  // 198.18.250.<100+k> when on_wan, else empty
  std::string ref() const { return cluster + "/" + name; }
};

struct ProcessRecord {
  pid_t pid = 0;
  unsigned long long start_time = 0;  // with pid, identifies the process despite pid reuse
  std::string netns;
  std::string command;
};

struct RunState {
  std::string id;
  pid_t owner_pid = 0;
  unsigned long long owner_start_time = 0;
  std::string phase;      // "creating", "ready", "tearing_down"
  bool detached = false;  // outlives its owner: alive while any recorded process is
  std::string topology;   // "flat" | "gateway"
  std::string wan_ns;
  std::vector<std::string> namespaces;   // in creation order (recorded before creation)
  std::vector<std::string> resolv_dirs;  // /etc/netns/<ns> directories we wrote
  std::vector<ClusterInfo> clusters;
  std::vector<PodInfo> pods;
  std::vector<ProcessRecord> processes;
};

std::string state_dir(const std::string& root, const std::string& id);
std::string state_file(const std::string& root, const std::string& id);

// Atomic replace (write a temporary file, rename).
Result<void> save_state(const std::string& root, const RunState& state);
Result<RunState> load_state(const std::string& root, const std::string& id);

struct RunSummary {
  std::string id;
  bool has_state = false;  // false: a namespace named like a run, no state directory
  bool owner_alive = false;
  RunState state;                            // as far as it could be read
  std::vector<std::string> live_namespaces;  // st<id>-* namespaces that exist now
};

// Every run with a state directory under `root`, plus namespaces that look like runs (st<id>-...)
// without one (has_state = false).
std::vector<RunSummary> list_runs(const std::string& root);

// Removes run `id`: kills its recorded processes (if they are still the same processes), every
// process inside its namespaces, every namespace named st<id>-*, its /etc/netns dirs and its
// state directory. Succeeds when nothing is left.
Result<void> down_run(const std::string& root, const std::string& id, std::ostream* log);

// down_run for every run with a state directory; with `stale_only`, only those whose owner is
// dead. Returns how many runs were removed.
Result<int> down_runs(const std::string& root, bool stale_only, std::ostream* log);

// True when `id` is a valid run id: 1 to 8 of [a-z0-9].
bool valid_run_id(const std::string& id);

}  // namespace strait::harness
