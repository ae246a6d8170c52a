// Test scaffolding for strait-init's root tests: network namespaces, veth links and helper
// processes as RAII objects, so everything is torn down even when an assertion fails.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sidecar/init/exec.h"

namespace strait::init::testing {

inline std::string build_path(const std::string& rel) {
  return std::string(STRAIT_BUILD_DIR) + "/" + rel;
}
inline std::string strait_init_bin() { return build_path("sidecar/init/strait-init"); }
inline std::string echo_bin() { return build_path("tests/sidecar/init/orig_dst_echo"); }

// Unique per test process: "stinit-<pid>-<suffix>".
inline std::string unique_name(const std::string& suffix) {
  return "stinit-" + std::to_string(::getpid()) + "-" + suffix;
}

// Runs a command that must succeed; returns stdout. Failures become test failures (ADD_FAILURE).
inline std::string must(const std::vector<std::string>& argv, const std::string& input = "") {
  auto r = run_checked(argv, input, std::chrono::seconds(20));
  if (!r) {
    ADD_FAILURE() << r.error().to_string();
    return "";
  }
  return r->out;
}

// `ip netns add NAME` now, `ip netns del NAME` on destruction (which also removes its veths).
class Netns {
 public:
  explicit Netns(std::string name) : name_(std::move(name)) {
    ok_ = run_checked({"ip", "netns", "add", name_}).ok();
    if (ok_) must({"ip", "-n", name_, "link", "set", "lo", "up"});
  }
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns() {
    if (ok_) (void)run_command({"ip", "netns", "del", name_});
  }
  const std::string& name() const { return name_; }
  bool ok() const { return ok_; }
  // Runs a command inside this namespace (via `ip netns exec`) that must succeed.
  std::string exec(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"ip", "netns", "exec", name_});
    return must(argv);
  }

 private:
  std::string name_;
  bool ok_ = false;
};

// A long-running child (fork/execv), killed and reaped on destruction. Its stdout is a pipe.
class Process {
 public:
  explicit Process(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(fds[1], 1);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
    if (out_ >= 0) ::close(out_);
  }

  // Reads stdout until `line` appears or the deadline passes.
  bool wait_for_line(const std::string& line,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buf_.find(line + "\n") == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || out_ < 0) return false;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char b[256];
      ssize_t n = ::read(out_, b, sizeof b);
      if (n <= 0) return false;  // exited before printing it
      buf_.append(b, static_cast<size_t>(n));
    }
    return true;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
};

}  // namespace strait::init::testing
