// Processes and sockets inside network namespaces: spawn a program in a namespace (own process
// group, optional uid/gid, environment, log files), run one to completion with a timeout, and
// open sockets that live in a namespace. The harness builds on these; they know nothing of
// clusters or pods, so they also serve a namespace the harness did not make.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/result.h"

namespace strait::harness {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

inline Deadline deadline_in(std::chrono::milliseconds d) { return Clock::now() + d; }

// A file descriptor that closes itself.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

struct SpawnOptions {
  std::optional<uid_t> uid;  // setuid after entering the namespace (e.g. a proxy's own user)
  std::optional<gid_t> gid;  // setgid (and supplementary groups reduced to it)
  // Added to the inherited environment ("KEY", "VALUE"); clear_env starts from an empty one.
  std::vector<std::pair<std::string, std::string>> env;
  bool clear_env = false;
  std::string stdout_path;  // appended to; empty = inherit the harness's stdout
  std::string stderr_path;  // appended to; empty = inherit the harness's stderr
  std::string working_dir;  // empty = unchanged
  // A file bind-mounted over /etc/resolv.conf in a private mount namespace (how `ip netns exec`
  // applies /etc/netns/<name>/resolv.conf). Empty = the host's resolv.conf.
  std::string resolv_conf;
  // SIGKILL the process when the thread that spawned it dies, so a crashed test leaves no
  // process behind. Turn off for a process that must outlive a short-lived spawning thread.
  bool die_with_parent = true;
};

struct ExitStatus {
  bool exited = false;  // normal exit (code valid) vs killed by a signal (signal valid)
  int code = -1;
  int signal = 0;

  bool success() const { return exited && code == 0; }
  std::string to_string() const;
};

// A spawned process. Copies share one state, so the harness and the caller can both wait or
// signal; whoever reaps first records the exit status for everyone.
class Process {
 public:
  struct State;
  explicit Process(std::shared_ptr<State> state) : state_(std::move(state)) {}

  pid_t pid() const;
  const std::string& netns() const;  // empty: the harness's own namespace
  const std::vector<std::string>& argv() const;

  // Waits until the process exits or the deadline passes (error code "timeout").
  Result<ExitStatus> wait_exit(Deadline deadline) const;
  // The exit status if it has exited (reaps without blocking), nothing if still running.
  std::optional<ExitStatus> poll() const;
  bool running() const { return !poll().has_value(); }
  // Sends `sig` to the whole process group (the process and its children). No-op once reaped.
  void signal(int sig) const;
  // SIGKILL to the group, then reap. Returns the exit status.
  ExitStatus kill() const;
  // SIGTERM, wait up to `grace`, then SIGKILL; reaps.
  ExitStatus stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000)) const;

 private:
  std::shared_ptr<State> state_;
};

struct ExecResult {
  ExitStatus status;
  bool timed_out = false;  // killed because the timeout passed
  std::string out;
  std::string err;

  bool success() const { return !timed_out && status.success(); }
};

// Starts argv[0] (searched in PATH when it has no '/') in network namespace `netns` (a name in
// /var/run/netns; empty = the caller's namespace), as leader of a new process group.
Result<Process> spawn_in(const std::string& netns, const std::vector<std::string>& argv,
                         const SpawnOptions& options = {});

// Runs to completion capturing stdout and stderr; after `timeout` the process group is killed
// and timed_out is set. stdout_path/stderr_path in options are ignored.
Result<ExecResult> exec_in(const std::string& netns, const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout, const SpawnOptions& options = {});

// A socket created inside `netns` (a socket keeps the namespace it was created in, so the caller
// can use it from its own threads). Created by a short-lived forked child, passed back over a
// Unix socket.
Result<UniqueFd> socket_in(const std::string& netns, int domain, int type);

// A TCP connection from inside `netns` to "ip:port", or an error (refused, unreachable,
// "timeout") once the deadline passes.
Result<UniqueFd> connect_in(const std::string& netns, const std::string& address,
                            Deadline deadline);

// Polls `ready` (every `interval`) until it returns true or the deadline passes ("timeout").
Result<void> wait_until(const std::function<bool()>& ready, Deadline deadline,
                        std::chrono::milliseconds interval = std::chrono::milliseconds(50));

// Retries connect_in until one succeeds.
Result<void> wait_for_tcp_in(const std::string& netns, const std::string& address,
                             Deadline deadline);

// Retries a plain HTTP/1.1 GET (no curl) from inside `netns` until one answers 2xx.
// url: http://IP:PORT/path
Result<void> wait_for_http_ok_in(const std::string& netns, const std::string& url,
                                 Deadline deadline);

// The start time of a process (clock ticks since boot, /proc/PID/stat field 22), 0 if it does
// not exist. A pid plus its start time names one process even after pid reuse.
unsigned long long process_start_time(pid_t pid);
// Whether the process `pid` started at `start_time` (0: any) still exists.
bool same_process_alive(pid_t pid, unsigned long long start_time);

}  // namespace strait::harness
