// strait-gateway: the multicluster gateway.
#include <grpc/grpc.h>

#include <csignal>
#include <iostream>

#include "core/config/config.h"
#include "core/log/log.h"
#include "gateway/gateway.h"

int main(int argc, char** argv) {
  using namespace strait;
  std::signal(SIGPIPE, SIG_IGN);
  grpc_init();  // paired with grpc_shutdown_blocking() below
  log::set_component("gateway");
  auto cfg = config::Config::from_argv(argc, argv);
  if (!cfg) {
    std::cerr << "strait-gateway: " << cfg.error().message << "\n";
    return 2;
  }
  if (auto level = cfg->get_string("log.level", "info"); level) {
    if (auto l = log::parse_level(*level)) log::set_level(*l);
  }
  auto config = proxy::ProxyConfig::from(*cfg);
  if (!config) {
    std::cerr << "strait-gateway: " << config.error().message
              << "\nusage: strait-gateway --config gateway.yaml [--section.key=value ...]\n";
    return 2;
  }
  auto g = gateway::Gateway::create(std::move(*config));
  if (!g) {
    log::error("gateway failed to start",
               {{"reason", g.error().code}, {"detail", g.error().message}});
    return 1;
  }
  (*g)->run();
  g->reset();
  grpc_shutdown_blocking();
  return 0;
}
