// Named network namespaces (/var/run/netns/NAME, as `ip netns` makes them): create, delete,
// list, find the processes inside one, and run `ip`/`iptables` commands from the harness.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/base/result.h"

namespace strait::harness {

// Names of every namespace in /var/run/netns.
std::vector<std::string> list_netns();
bool netns_exists(const std::string& name);

// `ip netns add NAME`.
Result<void> create_netns(const std::string& name);
// Kills every process still in the namespace, then deletes it. Succeeds when it does not exist.
Result<void> delete_netns(const std::string& name);

// Pids of the processes whose network namespace is `name` (what `ip netns pids` prints).
std::vector<pid_t> netns_pids(const std::string& name);

// Runs a command (in the harness's own namespace, e.g. `ip -n NS ...`) with a 10 s timeout;
// an error carries the command line and its stderr.
Result<void> run_command(const std::vector<std::string>& argv);
// Runs a command inside namespace `netns`.
Result<void> run_command_in(const std::string& netns, const std::vector<std::string>& argv);

// Writes a sysctl (path under /proc/sys, e.g. "net/ipv4/ip_forward") as seen from inside `netns`.
Result<void> write_sysctl_in(const std::string& netns, const std::string& key,
                             const std::string& value);

}  // namespace strait::harness
