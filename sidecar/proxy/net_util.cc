// Socket helpers.
#include "sidecar/proxy/net_util.h"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>

namespace strait::proxy {
namespace ip = boost::asio::ip;

std::optional<ip::tcp::endpoint> original_dst(ip::tcp::socket& s) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int fd = s.native_handle();
  boost::system::error_code ec;
  auto local = s.local_endpoint(ec);
  if (ec) return std::nullopt;
  int rc = local.address().is_v4() ? ::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len)
                                   : ::getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
  if (rc != 0) return std::nullopt;
  ip::tcp::endpoint e;
  std::memcpy(e.data(), &ss, std::min<std::size_t>(len, e.capacity()));
  e.resize(len);
  // Not redirected: the "original" destination is the listener itself.
  if (e == local) return std::nullopt;
  return e;
}

std::string to_string(const ip::tcp::endpoint& e) {
  auto a = e.address().to_string();
  if (e.address().is_v6()) a = "[" + a + "]";
  return a + ":" + std::to_string(e.port());
}

}  // namespace strait::proxy
