// VipAllocator: lowest-free allocation over an IPv4 prefix.
#include "controlplane/server/vip_allocator.h"

#include <arpa/inet.h>

#include <charconv>

namespace strait::controlplane {
namespace {

bool parse_v4(std::string_view text, std::uint32_t& out) {
  in_addr a{};
  if (inet_pton(AF_INET, std::string(text).c_str(), &a) != 1) return false;
  out = ntohl(a.s_addr);
  return true;
}

std::string format_v4(std::uint32_t v) {
  in_addr a{htonl(v)};
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, buf, sizeof buf);
}

}  // namespace

Result<VipAllocator> VipAllocator::parse(std::string_view cidr) {
  auto slash = cidr.find('/');
  std::uint32_t base = 0;
  int prefix = -1;
  if (slash != std::string_view::npos) {
    auto p = cidr.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc() || end != p.data() + p.size()) prefix = -1;
  }
  if (slash == std::string_view::npos || !parse_v4(cidr.substr(0, slash), base) || prefix < 8 ||
      prefix > 30) {
    return make_error(
        "invalid_field",
        "cluster.serviceCIDR: expected an IPv4 prefix /8../30, got \"" + std::string(cidr) + "\"");
  }
  std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return VipAllocator(base & mask, prefix);
}

bool VipAllocator::contains(std::string_view ip) const {
  std::uint32_t v = 0;
  if (!parse_v4(ip, v)) return false;
  std::uint32_t mask = ~std::uint32_t{0} << (32 - prefix_);
  return (v & mask) == base_;
}

Result<std::string> VipAllocator::allocate(const std::set<std::string>& in_use) const {
  std::uint32_t size = std::uint32_t{1} << (32 - prefix_);
  for (std::uint32_t i = 1; i + 1 < size; ++i) {
    std::string ip = format_v4(base_ + i);
    if (!in_use.contains(ip)) return ip;
  }
  return make_error("range_exhausted", "no free virtual IP left in the service range");
}

}  // namespace strait::controlplane
