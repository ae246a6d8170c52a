// endpoint_port_for: which workload port an Endpoint serves for a service port.
#include "core/discovery/endpoint_ports.h"

#include <gtest/gtest.h>

namespace strait::discovery {
namespace {

Endpoint with(std::uint16_t port, std::vector<EndpointPort> ports = {}) {
  Endpoint e;
  e.port = port;
  e.ports = std::move(ports);
  return e;
}

TEST(EndpointPorts, OnePortServesThatPortOnly) {
  const ServicePort http{"http", 80, 8080, {}};
  EXPECT_EQ(endpoint_port_for(with(8080), &http, 8080), 8080);
  EXPECT_EQ(endpoint_port_for(with(9090), &http, 8080), std::nullopt);
  EXPECT_EQ(endpoint_port_for(with(8080), nullptr, 8080), 8080);
  EXPECT_EQ(endpoint_ports_text(with(8080)), "8080");
}

TEST(EndpointPorts, NoPortServesEveryPortOfItsService) {
  const ServicePort http{"http", 80, 8080, {}};
  EXPECT_EQ(endpoint_port_for(with(0), &http, 8080), 8080);
  EXPECT_EQ(endpoint_port_for(with(0), nullptr, 7000), 7000);
  EXPECT_EQ(endpoint_ports_text(with(0)), "*");
}

TEST(EndpointPorts, AListMatchesByNameFirstThenByNumber) {
  const auto e = with(0, {{"metrics", 9999}, {"", 6379}, {"bus", 16379}});
  const ServicePort metrics{"metrics", 80, 9121, {}};
  const ServicePort client{"client", 6379, 0, {}};
  const ServicePort bus{"other-name", 16379, 0, {}};
  const ServicePort missing{"admin", 7000, 0, {}};
  EXPECT_EQ(endpoint_port_for(e, &metrics, 9121), 9999);  // by name, not 9121
  EXPECT_EQ(endpoint_port_for(e, &client, 6379), 6379);   // no "client" listed: by number
  EXPECT_EQ(endpoint_port_for(e, &bus, 16379), 16379);
  EXPECT_EQ(endpoint_port_for(e, &missing, 7000), std::nullopt);
  EXPECT_EQ(endpoint_port_for(e, nullptr, 9999), 9999);
  EXPECT_EQ(endpoint_port_for(e, nullptr, 1), std::nullopt);
  EXPECT_EQ(endpoint_ports_text(e), "metrics=9999,6379,bus=16379");
}

}  // namespace
}  // namespace strait::discovery
