// strait-proxy: the sidecar.
#include <csignal>
#include <iostream>

#include <grpc/grpc.h>

#include "core/config/config.h"
#include "core/log/log.h"
#include "sidecar/proxy/proxy.h"

int main(int argc, char** argv) {
  using namespace strait;
  std::signal(SIGPIPE, SIG_IGN);
  grpc_init();  // paired with grpc_shutdown_blocking() below: a clean, complete shutdown
  log::set_component("proxy");
  auto cfg = config::Config::from_argv(argc, argv);
  if (!cfg) {
    std::cerr << "strait-proxy: " << cfg.error().message << "\n";
    return 2;
  }
  if (auto level = cfg->get_string("log.level", "info"); level) {
    if (auto l = log::parse_level(*level)) log::set_level(*l);
  }
  auto config = proxy::ProxyConfig::from(*cfg);
  if (!config) {
    std::cerr << "strait-proxy: " << config.error().message
              << "\nusage: strait-proxy --config proxy.yaml [--section.key=value ...]\n";
    return 2;
  }
  auto p = proxy::Proxy::create(std::move(*config));
  if (!p) {
    log::error("proxy failed to start",
               {{"reason", p.error().code}, {"detail", p.error().message}});
    return 1;
  }
  (*p)->run();
  p->reset();
  grpc_shutdown_blocking();  // gRPC's threads end before static destruction
  return 0;
}
