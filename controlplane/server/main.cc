// strait-controller: the control plane of one cluster.
#include <csignal>
#include <iostream>

#include "controlplane/server/controller.h"
#include "core/config/config.h"
#include "core/log/log.h"

int main(int argc, char** argv) {
  using namespace strait;
  // --config FILE loads the YAML; every other --section.key=value overrides it.
  auto cfg = config::Config::from_argv(argc, argv);
  if (!cfg) {
    std::cerr << "strait-controller: " << cfg.error().message << "\n";
    return 2;
  }
  if (!cfg->has("stateDir")) {
    std::cerr << "usage: strait-controller --config STATE_DIR/controller.yaml [--section.key=value "
                 "...]\n";
    return 2;
  }
  if (auto level = cfg->get_string("log.level", "info"); level) {
    if (auto l = log::parse_level(*level)) log::set_level(*l);
  }
  auto config = controlplane::ControllerConfig::from(*cfg);
  if (!config) {
    std::cerr << "strait-controller: " << config.error().message << "\n";
    return 2;
  }

  // Signals are taken synchronously by this thread, not by a handler.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto controller = controlplane::Controller::start(std::move(*config));
  if (!controller) {
    log::error("controller failed to start",
               {{"reason", controller.error().code}, {"detail", controller.error().message}});
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  log::info("signal received, draining", {{"signal", static_cast<std::int64_t>(sig)}});
  (*controller)->shutdown(std::chrono::seconds(5));
  return 0;
}
