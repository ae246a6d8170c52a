// VipAllocator: virtual IPs for Services from the cluster's IPv4 service range.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "core/base/result.h"

namespace strait::controlplane {

class VipAllocator {
 public:
  static Result<VipAllocator> parse(std::string_view cidr);  // "198.19.0.0/20"

  bool contains(std::string_view ip) const;
  // The lowest free address of the range (network and broadcast excluded).
  Result<std::string> allocate(const std::set<std::string>& in_use) const;

 private:
  VipAllocator(std::uint32_t base, int prefix) : base_(base), prefix_(prefix) {}
  std::uint32_t base_;
  int prefix_;
};

}  // namespace strait::controlplane
