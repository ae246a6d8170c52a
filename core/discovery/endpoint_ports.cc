// The ports an Endpoint serves.
#include "core/discovery/endpoint_ports.h"

namespace strait::discovery {

std::optional<std::uint16_t> endpoint_port_for(const Endpoint& e, const ServicePort* service_port,
                                               std::uint16_t target_port) {
  if (!e.ports.empty()) {
    if (service_port && !service_port->name.empty()) {
      for (const auto& p : e.ports) {
        if (p.name == service_port->name) return p.port;
      }
    }
    for (const auto& p : e.ports) {
      if (p.port == target_port) return p.port;
    }
    return std::nullopt;
  }
  if (e.port == 0) return target_port;  // every port its service declares
  if (e.port == target_port) return e.port;
  return std::nullopt;
}

std::string endpoint_ports_text(const Endpoint& e) {
  if (e.ports.empty()) return e.port == 0 ? "*" : std::to_string(e.port);
  std::string out;
  for (const auto& p : e.ports) {
    if (!out.empty()) out += ",";
    if (!p.name.empty()) out += p.name + "=";
    out += std::to_string(p.port);
  }
  return out;
}

}  // namespace strait::discovery
