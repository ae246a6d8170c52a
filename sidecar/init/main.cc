// strait-init's entry point: parse flags, optionally enter the target network namespace, apply.
// Exit codes: 0 success, 2 bad arguments, 1 anything else.
#include <iostream>
#include <string>
#include <vector>

#include "core/log/log.h"
#include "sidecar/init/init.h"
#include "sidecar/init/options.h"

int main(int argc, char** argv) {
  namespace init = strait::init;
  strait::log::set_component("init");
  std::vector<std::string> args(argv + 1, argv + argc);
  auto opts = init::parse_args(args);
  if (!opts) {
    std::cerr << "strait-init: " << opts.error().message << "\n";
    return 2;
  }
  if (opts->help) {
    std::cout << init::usage();
    return 0;
  }
  auto level = strait::log::parse_level(opts->log_level);
  if (!level) {
    std::cerr << "strait-init: --log-level: " << level.error().message << "\n";
    return 2;
  }
  strait::log::set_level(*level);
  if (!opts->netns.empty()) {
    auto r = init::enter_netns(opts->netns);
    if (!r) {
      strait::log::error("cannot enter network namespace", {{"error", r.error().to_string()}});
      return 1;
    }
  }
  auto r = init::apply(*opts, std::cout);
  if (!r) {
    strait::log::error("strait-init failed", {{"error", r.error().to_string()}});
    return 1;
  }
  return 0;
}
