// Networks as text: whether an address lies in a CIDR, for policies (authorization networks)
// and the DNS server (which clients get recursion).
#pragma once

#include <string>

namespace strait::net {

// True when `ip` lies in `cidr` ("198.18.0.0/16", "::1/128", or a bare address). Anything
// unparsable (either side, a prefix out of range, a family mismatch) is false.
bool in_network(const std::string& ip, const std::string& cidr);

}  // namespace strait::net
