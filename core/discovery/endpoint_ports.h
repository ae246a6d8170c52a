// Which workload port an Endpoint serves for a port of its Service: the one rule that the
// destination service, DNS (SRV of headless services) and straitctl share. An endpoint names one
// port (`port`), lists several (`ports`, as an EndpointSlice does), or names none and then serves
// every port its service declares.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/discovery/model.h"

namespace strait::discovery {

// The workload port `e` serves for `service_port` (nullptr: a connection to the endpoint's
// address that no service declares; matched by number), whose target is `target_port`; none
// when it does not serve it. A listed port matches by name when both are named, else by number.
std::optional<std::uint16_t> endpoint_port_for(const Endpoint& e, const ServicePort* service_port,
                                               std::uint16_t target_port);

// "8080", "8000,metrics=9090", or "*" (every port of its service): straitctl's PORT column.
std::string endpoint_ports_text(const Endpoint& e);

}  // namespace strait::discovery
