// Target: what a destination lookup names, parsed from "<svc>.<ns>.svc.<domain>:<port>" or
// "<ip>:<port>". Pure parsing; resolution against the store happens in DestinationIndex.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/result.h"

namespace strait::controlplane {

struct Target {
  enum class Type { kService, kAddress, kOutside };
  Type type = Type::kOutside;
  std::string ns;    // kService
  std::string name;  // kService
  std::string ip;    // kAddress (normalized literal)
  std::uint16_t port = 0;
};

// Errors (code invalid_path): no port, port out of range, empty host. A well-formed name
// outside the cluster domain is kOutside, not an error.
Result<Target> parse_target(std::string_view path, std::string_view cluster_domain);

}  // namespace strait::controlplane
