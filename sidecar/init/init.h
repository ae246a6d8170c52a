// strait-init: installs (or removes) the nat rules that send a workload's TCP through the proxy.
//
// How: read the nat table once with `iptables-save -t nat`, then apply ONE
// `iptables-restore -w 5 --noflush` transaction computed from it (rules.h). One transaction means
// the namespace never shows half our rules: either the old chains or the new ones, and a failure
// leaves the previous state. --noflush keeps everybody else's rules; declaring our chains flushes
// only them, which makes re-runs idempotent and lets a re-run with other options replace their
// contents.
// `-w` waits for the xtables lock (legacy backend; harmless on nft). Programs are run with
// fork/execvp and an explicit argv: no shell anywhere.
//
// IPv4 only for now: ip6tables is not touched (IPv6 traffic is not intercepted).
#pragma once

#include <iosfwd>
#include <string>

#include "core/base/result.h"
#include "sidecar/init/options.h"

namespace strait::init {

// Enters /var/run/netns/<name> (setns CLONE_NEWNET) for the calling thread and the programs it
// starts afterwards.
Result<void> enter_netns(const std::string& name);

// Installs or (o.uninstall) removes the rules in the current network namespace. With o.dry_run the
// commands are written to `dry_run_out` instead of changing anything.
Result<void> apply(const Options& o, std::ostream& dry_run_out);

// `iptables-save -t nat` output of the current namespace.
Result<std::string> save_nat();

}  // namespace strait::init
