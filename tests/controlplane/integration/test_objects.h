// Discovery objects the integration tests apply, built in code (the admin API carries them as
// JSON through core/discovery/json_codec).
#pragma once

#include <string>
#include <vector>

#include "core/discovery/model.h"

namespace strait::controlplane::testing {

inline discovery::Object service(const std::string& ns, const std::string& name, std::uint16_t port,
                                 std::uint16_t target_port = 0) {
  discovery::Service s;
  s.meta.ns = ns;
  s.meta.name = name;
  s.ports.push_back({.name = "http",
                     .port = port,
                     .target_port = target_port,
                     .protocol = discovery::ProtocolHint::kHttp1});
  return s;
}

inline discovery::Object endpoint(const std::string& ns, const std::string& name,
                                  const std::string& svc, const std::string& ip, std::uint16_t port,
                                  discovery::Labels labels = {}) {
  discovery::Endpoint e;
  e.meta.ns = ns;
  e.meta.name = name;
  e.meta.labels = std::move(labels);
  e.service = svc;
  e.address = ip;
  e.port = port;
  return e;
}

inline discovery::Object server(const std::string& ns, const std::string& name, std::uint16_t port,
                                discovery::Labels selector) {
  discovery::Server s;
  s.meta.ns = ns;
  s.meta.name = name;
  s.port = port;
  s.pod_selector = std::move(selector);
  s.proxy_protocol = discovery::ProtocolHint::kHttp1;
  return s;
}

inline discovery::Object authorization(const std::string& ns, const std::string& name,
                                       const std::string& target,
                                       std::vector<std::string> identities) {
  discovery::AuthorizationPolicy a;
  a.meta.ns = ns;
  a.meta.name = name;
  a.target_server = target;
  a.identities = std::move(identities);
  return a;
}

}  // namespace strait::controlplane::testing
