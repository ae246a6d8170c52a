// The rules themselves, as pure functions of the Options and the current nat table: what
// `iptables-save -t nat` tells us is installed, and the `iptables-restore --noflush` input that
// moves it to the wanted state. Nothing here touches the system, so it is unit-tested as is.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sidecar/init/options.h"

namespace strait::init {

inline constexpr std::string_view kInboundChain = "STRAIT_INBOUND";
inline constexpr std::string_view kOutboundChain = "STRAIT_OUTBOUND";
inline constexpr std::string_view kComment = "strait";

// What of ours is present in the nat table.
struct NatState {
  std::vector<std::string> chains;  // user chains, in iptables-save order
  std::vector<std::string>
      jump_rules;  // "-A <chain> ... -j STRAIT_*" lines, as iptables-save prints them
  bool has_chain(std::string_view name) const;
};

// Parses the *nat section of iptables-save output. Missing section = nothing installed.
NatState parse_nat_state(std::string_view save_output);

// The rules of our two chains, as iptables-restore lines ("-A STRAIT_OUTBOUND ...").
std::vector<std::string> outbound_rules(const Options& o);
std::vector<std::string> inbound_rules(const Options& o);
// The jumps from the built-in chains, exactly as iptables-save prints them.
std::string inbound_jump();
std::string outbound_jump();

// iptables-restore --noflush input that installs (or replaces) our chains and ensures exactly one
// jump to each. Declaring a chain with ":NAME - [0:0]" under --noflush creates it or flushes it, so
// a re-run with other options replaces the contents and an identical re-run changes nothing.
std::string install_script(const Options& o, const NatState& current);

// Input that removes every jump to our chains and then the chains; empty when nothing is installed.
std::string uninstall_script(const NatState& current);

// iptables-save output without "#" comment lines and with every "[packets:bytes]" counter zeroed,
// so two snapshots compare equal when only traffic happened in between.
std::string normalize_save(std::string_view save_output);

// Splits an iptables-save rule line into words, honouring double quotes (as iptables-restore does).
std::vector<std::string> split_rule(std::string_view line);

}  // namespace strait::init
