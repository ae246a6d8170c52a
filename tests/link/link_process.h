// LinkProcess: the real strait-link for integration tests — spawned with fork/exec against a
// controller's state directory, found through <state-dir>/run/strait-link.json (this pid), stopped
// with SIGTERM (SIGKILL after a deadline); its log printed when the running test has failed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "tests/controlplane/integration/controller_process.h"

namespace strait::link::testing {

class LinkProcess {
 public:
  static std::string binary() { return std::string(STRAIT_BUILD_DIR) + "/link/strait-link"; }

  LinkProcess(std::filesystem::path state_dir, std::filesystem::path log_path,
              std::vector<std::string> flags = {});
  ~LinkProcess();
  LinkProcess(const LinkProcess&) = delete;
  LinkProcess& operator=(const LinkProcess&) = delete;

  Result<void> start(std::chrono::milliseconds deadline = std::chrono::seconds(30));
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  bool running() const { return pid_ > 0; }
  std::uint16_t admin_port() const { return admin_port_; }
  std::string log() const;
  controlplane::testing::HttpResponse get(const std::string& path) const {
    return controlplane::testing::http_get(admin_port_, path);
  }

 private:
  std::filesystem::path state_dir_, log_path_;
  std::vector<std::string> flags_;
  pid_t pid_ = -1;
  std::uint16_t admin_port_ = 0;
};

}  // namespace strait::link::testing
