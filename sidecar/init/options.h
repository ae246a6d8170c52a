// strait-init's command line: the Options it acts on, and a small strict parser whose errors name
// the offending flag ("--skip-outbound-cidrs: ...").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"

namespace strait::init {

// An IPv4 network, normalised (host bits cleared) so it renders as iptables-save prints it.
struct Cidr {
  std::uint32_t addr = 0;  // host byte order
  int prefix = 32;
  std::string to_string() const;  // "198.18.0.0/15"
  bool operator==(const Cidr&) const = default;
};

// One TCP port or an inclusive range (first == last for a single port).
struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  std::string to_iptables() const;  // "443" or "8000:8100"
  bool operator==(const PortRange&) const = default;
};

struct Options {
  std::uint16_t outbound_port = 4140;
  std::uint16_t inbound_port = 4143;
  std::uint16_t admin_port = 4191;
  std::uint32_t proxy_uid = 2102;
  std::vector<Cidr> skip_outbound_cidrs;
  std::vector<PortRange> skip_outbound_ports;
  std::vector<PortRange> skip_inbound_ports;
  std::string netns;  // empty: the current network namespace
  bool uninstall = false;
  bool dry_run = false;
  bool help = false;
  std::string log_level = "info";
};

// "a.b.c.d/n" or a bare "a.b.c.d" (= /32). Host bits are cleared.
Result<Cidr> parse_cidr(std::string_view text);
// "443" or "8000-8100" (also "8000:8100"); 1..65535.
Result<PortRange> parse_port_range(std::string_view text);
// A single port 1..65535.
Result<std::uint16_t> parse_port(std::string_view text);

// Parses the arguments after argv[0]. Accepts "--flag value" and "--flag=value"; list flags take
// comma-separated values and may repeat (values accumulate). Unknown flags and positional
// arguments are errors.
Result<Options> parse_args(std::span<const std::string> args);

std::string usage();

}  // namespace strait::init
