// Parsing of destination lookup paths.
#include "controlplane/destination/target.h"

#include <arpa/inet.h>

#include "core/net/address.h"

namespace strait::controlplane {
namespace {

Error invalid(std::string_view path, std::string_view why) {
  return make_error("invalid_path",
                    "destination path \"" + std::string(path) + "\": " + std::string(why));
}

// Normalizes an IPv4/IPv6 literal; empty when it is not one.
std::string normalize_ip(std::string_view host) {
  std::string h(host);
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, h.c_str(), buf) == 1) return inet_ntop(AF_INET, buf, out, sizeof out);
  if (inet_pton(AF_INET6, h.c_str(), buf) == 1) return inet_ntop(AF_INET6, buf, out, sizeof out);
  return {};
}

}  // namespace

Result<Target> parse_target(std::string_view path, std::string_view cluster_domain) {
  if (path.size() > 512) return invalid(path.substr(0, 64), "longer than 512 bytes");
  std::string_view host;
  std::string_view port_text;
  if (!path.empty() && path.front() == '[') {
    auto close = path.find(']');
    if (close == std::string_view::npos || close + 1 >= path.size() || path[close + 1] != ':') {
      return invalid(path, "expected [ipv6]:port");
    }
    host = path.substr(1, close - 1);
    port_text = path.substr(close + 2);
  } else {
    auto colon = path.rfind(':');
    if (colon == std::string_view::npos) return invalid(path, "missing :port");
    host = path.substr(0, colon);
    port_text = path.substr(colon + 1);
  }
  if (host.empty()) return invalid(path, "empty host");
  auto port = net::parse_wire_port(port_text);
  if (!port) return invalid(path, "port must be 1..65535, without leading zeros");

  Target t;
  t.port = *port;
  if (std::string ip = normalize_ip(host); !ip.empty()) {
    t.type = Target::Type::kAddress;
    t.ip = std::move(ip);
    return t;
  }
  if (host.back() == '.') host.remove_suffix(1);
  // <svc>.<ns>.svc.<domain>
  std::string suffix = ".svc." + std::string(cluster_domain);
  if (host.size() <= suffix.size() || host.substr(host.size() - suffix.size()) != suffix) {
    return t;  // kOutside
  }
  std::string_view svc_ns = host.substr(0, host.size() - suffix.size());
  auto dot = svc_ns.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= svc_ns.size() ||
      svc_ns.find('.', dot + 1) != std::string_view::npos) {
    return t;  // not of the form svc.ns
  }
  t.type = Target::Type::kService;
  t.name = std::string(svc_ns.substr(0, dot));
  t.ns = std::string(svc_ns.substr(dot + 1));
  return t;
}

}  // namespace strait::controlplane
