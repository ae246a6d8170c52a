// in_network: prefix comparison on the binary addresses.
#include "core/net/network.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace strait::net {

bool in_network(const std::string& ip, const std::string& cidr) {
  auto slash = cidr.find('/');
  std::string net = cidr.substr(0, slash);
  unsigned char a[16], n[16];
  int family = net.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (inet_pton(family, ip.c_str(), a) != 1 || inet_pton(family, net.c_str(), n) != 1) return false;
  int bits = family == AF_INET ? 32 : 128;
  int prefix = bits;
  if (slash != std::string::npos) {
    // The whole rest must be a number: "10.0.0.0/" or "/8x" would otherwise admit too much.
    const char* first = cidr.data() + slash + 1;
    const char* last = cidr.data() + cidr.size();
    auto [end, ec] = std::from_chars(first, last, prefix);
    if (ec != std::errc() || end != last || first == last) return false;
  }
  if (prefix < 0 || prefix > bits) return false;
  int full = prefix / 8;
  if (std::memcmp(a, n, static_cast<std::size_t>(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (n[full] & mask);
}

}  // namespace strait::net
