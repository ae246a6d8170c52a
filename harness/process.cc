// Fork/setns/exec for the harness. Everything the child needs is prepared before fork(): the
// harness may be multi-threaded, so between fork and exec the child only makes system calls.
#include "harness/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

extern char** environ;

namespace strait::harness {

namespace {

using namespace std::chrono_literals;

std::string errno_text(int err) { return std::strerror(err); }

int remaining_ms(Deadline deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1000000 ? 1000000 : static_cast<int>(left);
}

Result<UniqueFd> open_netns(const std::string& netns) {
  if (netns.empty()) return UniqueFd();
  std::string path = "/var/run/netns/" + netns;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error("netns_not_found", "cannot open " + path + ": " + errno_text(errno));
  }
  return UniqueFd(fd);
}

std::string find_in_path(const std::string& prog, const std::string& path_env) {
  if (prog.find('/') != std::string::npos) return prog;
  std::stringstream dirs(
      path_env.empty() ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" : path_env);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + prog;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return prog;
}

ExitStatus decode(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.exited = true;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
  }
  return s;
}

// Where the child failed, reported to the parent over a close-on-exec pipe.
struct ChildFailure {
  int stage;
  int err;
};
const char* const kStages[] = {"setns",     "unshare mount namespace",
                               "mount /",   "bind resolv.conf",
                               "stdin",     "stdout",
                               "stderr",    "chdir",
                               "setgroups", "setgid",
                               "setuid",    "prctl",
                               "execve",    "setpgid"};

[[noreturn]] void child_fail(int pipe_fd, int stage) {
  ChildFailure f{stage, errno};
  ssize_t n = ::write(pipe_fd, &f, sizeof f);
  (void)n;
  ::_exit(127);
}

struct Prepared {
  std::string path;
  std::vector<std::string> argv_store;
  std::vector<std::string> env_store;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

Prepared prepare(const std::vector<std::string>& argv, const SpawnOptions& options) {
  Prepared p;
  p.argv_store = argv;
  if (!options.clear_env) {
    for (char** e = environ; e && *e; ++e) {
      std::string entry(*e);
      std::string key = entry.substr(0, entry.find('='));
      bool overridden = false;
      for (const auto& [k, v] : options.env) overridden |= (k == key);
      if (!overridden) p.env_store.push_back(std::move(entry));
    }
  }
  std::string path_env;
  for (const auto& [k, v] : options.env) {
    p.env_store.push_back(k + "=" + v);
  }
  for (const auto& e : p.env_store) {
    if (e.rfind("PATH=", 0) == 0) path_env = e.substr(5);
  }
  p.path = find_in_path(argv[0], path_env);
  for (auto& a : p.argv_store) p.argv.push_back(a.data());
  p.argv.push_back(nullptr);
  for (auto& e : p.env_store) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);
  return p;
}

// Child-side file descriptors: -1 = open the path (or inherit when the path is empty).
struct ChildIo {
  int stdout_fd = -1;
  int stderr_fd = -1;
};

Result<pid_t> fork_exec(int netns_fd, const Prepared& p, const SpawnOptions& options, ChildIo io) {
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return make_error("spawn_failed", "pipe: " + errno_text(errno));
  }
  const pid_t parent = ::getpid();
  const bool set_uid = options.uid.has_value();
  const bool set_gid = options.gid.has_value();
  const uid_t uid = options.uid.value_or(0);
  const gid_t gid = options.gid.value_or(0);
  const char* out_path = options.stdout_path.empty() ? nullptr : options.stdout_path.c_str();
  const char* err_path = options.stderr_path.empty() ? nullptr : options.stderr_path.c_str();
  const char* cwd = options.working_dir.empty() ? nullptr : options.working_dir.c_str();
  const char* resolv = options.resolv_conf.empty() ? nullptr : options.resolv_conf.c_str();

  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    return make_error("spawn_failed", "fork: " + errno_text(e));
  }
  if (pid == 0) {
    const int wfd = err_pipe[1];
    // Signals: default dispositions and nothing blocked (the CLI blocks SIGINT/SIGTERM).
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::setpgid(0, 0) != 0) child_fail(wfd, 13);
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) child_fail(wfd, 0);
    if (resolv) {
      if (::unshare(CLONE_NEWNS) != 0) child_fail(wfd, 1);
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) child_fail(wfd, 2);
      if (::mount(resolv, "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0) child_fail(wfd, 3);
    }
    int in = ::open("/dev/null", O_RDONLY);
    if (in < 0 || ::dup2(in, 0) < 0) child_fail(wfd, 4);
    if (io.stdout_fd >= 0) {
      if (::dup2(io.stdout_fd, 1) < 0) child_fail(wfd, 5);
    } else if (out_path) {
      int fd = ::open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd < 0 || ::dup2(fd, 1) < 0) child_fail(wfd, 5);
    }
    if (io.stderr_fd >= 0) {
      if (::dup2(io.stderr_fd, 2) < 0) child_fail(wfd, 6);
    } else if (err_path) {
      int fd = ::open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd < 0 || ::dup2(fd, 2) < 0) child_fail(wfd, 6);
    }
    if (cwd && ::chdir(cwd) != 0) child_fail(wfd, 7);
    if (set_gid) {
      if (::setgroups(1, &gid) != 0) child_fail(wfd, 8);
      if (::setgid(gid) != 0) child_fail(wfd, 9);
    }
    if (set_uid && ::setuid(uid) != 0) child_fail(wfd, 10);
    // After setuid: a credential change clears the parent-death signal.
    if (options.die_with_parent) {
      if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(wfd, 11);
      if (::getppid() != parent) ::_exit(127);
    }
    // Nothing of the harness's leaks into the program (the error pipe closes at exec).
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execve(p.path.c_str(), p.argv.data(), p.envp.data());
    child_fail(wfd, 12);
  }
  ::close(err_pipe[1]);
  // Also from the parent, so a signal to the group cannot race the child's own setpgid.
  ::setpgid(pid, pid);
  ChildFailure failure{};
  ssize_t n;
  do {
    n = ::read(err_pipe[0], &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    int status;
    ::waitpid(pid, &status, 0);
    return make_error("spawn_failed", "cannot start " + p.path + ": " + kStages[failure.stage] +
                                          ": " + errno_text(failure.err));
  }
  return pid;
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::string ExitStatus::to_string() const {
  if (exited) return "exit " + std::to_string(code);
  if (signal) return std::string("killed by ") + ::strsignal(signal);
  return "unknown";
}

struct Process::State {
  pid_t pid = -1;
  std::string netns;
  std::vector<std::string> argv;
  UniqueFd pidfd;
  std::mutex mu;
  std::optional<ExitStatus> status;  // set once reaped
};

pid_t Process::pid() const { return state_->pid; }
const std::string& Process::netns() const { return state_->netns; }
const std::vector<std::string>& Process::argv() const { return state_->argv; }

std::optional<ExitStatus> Process::poll() const {
  std::lock_guard lock(state_->mu);
  if (state_->status) return state_->status;
  int status;
  pid_t r = ::waitpid(state_->pid, &status, WNOHANG);
  if (r == state_->pid) {
    state_->status = decode(status);
  } else if (r < 0 && errno == ECHILD) {
    state_->status = ExitStatus{};  // reaped elsewhere; nothing more to know
  }
  return state_->status;
}

Result<ExitStatus> Process::wait_exit(Deadline deadline) const {
  for (;;) {
    if (auto s = poll()) return *s;
    int ms = remaining_ms(deadline);
    if (ms == 0) {
      return make_error("timeout", "process " + std::to_string(state_->pid) + " (" +
                                       state_->argv[0] + ") still running at the deadline");
    }
    if (state_->pidfd) {
      pollfd p{state_->pidfd.get(), POLLIN, 0};
      ::poll(&p, 1, ms);
    } else {
      std::this_thread::sleep_for(std::min(std::chrono::milliseconds(ms), 10ms));
    }
  }
}

void Process::signal(int sig) const {
  std::lock_guard lock(state_->mu);
  // Once reaped, the pid may belong to someone else.
  if (state_->status) return;
  if (::kill(-state_->pid, sig) != 0) ::kill(state_->pid, sig);
}

ExitStatus Process::kill() const {
  signal(SIGKILL);
  auto s = wait_exit(deadline_in(10s));
  return s.ok() ? *s : ExitStatus{};
}

ExitStatus Process::stop(std::chrono::milliseconds grace) const {
  if (auto s = poll()) return *s;
  signal(SIGTERM);
  auto s = wait_exit(Clock::now() + grace);
  return s.ok() ? *s : kill();
}

Result<Process> spawn_in(const std::string& netns, const std::vector<std::string>& argv,
                         const SpawnOptions& options) {
  if (argv.empty()) return make_error("bad_argv", "empty argv");
  auto ns = open_netns(netns);
  if (!ns) return ns.error();
  Prepared p = prepare(argv, options);
  auto pid = fork_exec(ns->get(), p, options, {});
  if (!pid) return pid.error();
  auto state = std::make_shared<Process::State>();
  state->pid = *pid;
  state->netns = netns;
  state->argv = argv;
  // glibc 2.36 declares pidfd_open without C linkage for C++: call the system call.
  int pfd = static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0));
  if (pfd >= 0) state->pidfd.reset(pfd);
  return Process(std::move(state));
}

Result<ExecResult> exec_in(const std::string& netns, const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout, const SpawnOptions& options) {
  if (argv.empty()) return make_error("bad_argv", "empty argv");
  const Deadline deadline = Clock::now() + timeout;
  auto ns = open_netns(netns);
  if (!ns) return ns.error();
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    return make_error("spawn_failed", "pipe: " + errno_text(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return make_error("spawn_failed", "pipe: " + errno_text(errno));
  }
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]), err_r(err_pipe[0]), err_w(err_pipe[1]);
  SpawnOptions o = options;
  o.stdout_path.clear();
  o.stderr_path.clear();
  Prepared p = prepare(argv, o);
  auto pid = fork_exec(ns->get(), p, o, ChildIo{out_w.get(), err_w.get()});
  if (!pid) return pid.error();
  out_w.reset();
  err_w.reset();
  auto state = std::make_shared<Process::State>();
  state->pid = *pid;
  state->netns = netns;
  state->argv = argv;
  Process proc(state);

  ExecResult result;
  std::optional<Deadline>
      drain_until;  // after exit: leftovers (e.g. a background child) get 500 ms
  char buf[16384];
  for (;;) {
    if (!drain_until) {
      if (auto s = proc.poll()) {
        result.status = *s;
        drain_until = Clock::now() + 500ms;
      }
    }
    if (!out_r && !err_r) {
      if (drain_until) break;
    }
    Deadline limit = drain_until ? std::min(*drain_until, deadline) : deadline;
    int ms = remaining_ms(limit);
    if (ms == 0) {
      if (drain_until) break;
      result.timed_out = true;
      result.status = proc.kill();
      // Read what is already buffered; the group is dead so the pipes reach EOF shortly.
      drain_until = Clock::now() + 200ms;
      continue;
    }
    pollfd fds[2];
    int n = 0;
    if (out_r) fds[n++] = {out_r.get(), POLLIN, 0};
    if (err_r) fds[n++] = {err_r.get(), POLLIN, 0};
    if (n == 0) {
      // Both pipes closed; wait for the exit itself.
      auto s = proc.wait_exit(limit);
      if (s.ok()) {
        result.status = *s;
        break;
      }
      continue;
    }
    int r = ::poll(fds, n, std::min(ms, 20));
    if (r < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      UniqueFd& src = fds[i].fd == out_r.get() ? out_r : err_r;
      std::string& dst = fds[i].fd == out_r.get() ? result.out : result.err;
      ssize_t got = ::read(src.get(), buf, sizeof buf);
      if (got > 0) {
        dst.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        src.reset();
      }
    }
  }
  if (!proc.poll()) result.status = proc.kill();
  return result;
}

Result<UniqueFd> socket_in(const std::string& netns, int domain, int type) {
  if (netns.empty()) {
    int fd = ::socket(domain, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error("socket_failed", errno_text(errno));
    return UniqueFd(fd);
  }
  auto ns = open_netns(netns);
  if (!ns) return ns.error();
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
    return make_error("socket_failed", "socketpair: " + errno_text(errno));
  }
  UniqueFd mine(sp[0]), theirs(sp[1]);
  const int nsfd = ns->get();
  pid_t pid = ::fork();
  if (pid < 0) return make_error("socket_failed", "fork: " + errno_text(errno));
  if (pid == 0) {
    int code = 1;
    if (::setns(nsfd, CLONE_NEWNET) == 0) {
      int s = ::socket(domain, type, 0);
      if (s >= 0) {
        char byte = 0;
        iovec iov{&byte, 1};
        alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl;
        msg.msg_controllen = sizeof ctrl;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &s, sizeof(int));
        if (::sendmsg(sp[1], &msg, MSG_NOSIGNAL) == 1) code = 0;
      }
    }
    ::_exit(code);
  }
  theirs.reset();
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  ssize_t n;
  do {
    n = ::recvmsg(mine.get(), &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  int status;
  ::waitpid(pid, &status, 0);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (n != 1 || !c || c->cmsg_type != SCM_RIGHTS) {
    return make_error("socket_failed", "could not create a socket in namespace " + netns);
  }
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return UniqueFd(fd);
}

namespace {

Result<sockaddr_in> parse_ipv4_port(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos)
    return make_error("bad_address", "expected IP:PORT, got " + address);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  std::string host = address.substr(0, colon);
  if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    return make_error("bad_address", "not an IPv4 address: " + host);
  }
  try {
    int port = std::stoi(address.substr(colon + 1));
    if (port <= 0 || port > 65535) throw std::out_of_range("port");
    sa.sin_port = htons(static_cast<uint16_t>(port));
  } catch (const std::exception&) {
    return make_error("bad_address", "bad port in " + address);
  }
  return sa;
}

}  // namespace

Result<UniqueFd> connect_in(const std::string& netns, const std::string& address,
                            Deadline deadline) {
  auto sa = parse_ipv4_port(address);
  if (!sa) return sa.error();
  auto sock = socket_in(netns, AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  if (!sock) return sock.error();
  int fd = sock->get();
  if (::connect(fd, reinterpret_cast<sockaddr*>(&*sa), sizeof *sa) != 0) {
    if (errno != EINPROGRESS)
      return make_error("connect_failed", address + ": " + errno_text(errno));
    pollfd p{fd, POLLOUT, 0};
    int r;
    do {
      r = ::poll(&p, 1, remaining_ms(deadline));
    } while (r < 0 && errno == EINTR);
    if (r == 0) return make_error("timeout", "connect to " + address + " timed out");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return make_error("connect_failed", address + ": " + errno_text(err));
  }
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return sock;
}

Result<void> wait_until(const std::function<bool()>& ready, Deadline deadline,
                        std::chrono::milliseconds interval) {
  for (;;) {
    if (ready()) return {};
    if (Clock::now() >= deadline)
      return make_error("timeout", "condition not met before the deadline");
    std::this_thread::sleep_for(std::min<Clock::duration>(interval, deadline - Clock::now()));
  }
}

Result<void> wait_for_tcp_in(const std::string& netns, const std::string& address,
                             Deadline deadline) {
  std::string last = "no attempt";
  for (;;) {
    Deadline attempt = std::min(deadline, Clock::now() + 1s);
    auto c = connect_in(netns, address, attempt);
    if (c) return {};
    if (c.error().code == "bad_address" || c.error().code == "netns_not_found") return c.error();
    last = c.error().message;
    if (Clock::now() >= deadline) {
      return make_error("timeout",
                        "no TCP connection to " + address + " from " + netns + ": " + last);
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(50ms, deadline - Clock::now()));
  }
}

namespace {

// One GET; ok when the status is 2xx.
Result<void> http_get_once(const std::string& netns, const std::string& hostport,
                           const std::string& path, Deadline deadline) {
  auto c = connect_in(netns, hostport, deadline);
  if (!c) return c.error();
  int fd = c->get();
  timeval tv{};
  int ms = std::max(remaining_ms(deadline), 1);
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + hostport +
                    "\r\nUser-Agent: strait-harness\r\nConnection: close\r\n\r\n";
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return make_error("http_failed", "send: " + errno_text(errno));
    off += static_cast<size_t>(n);
  }
  std::string head;
  char buf[512];
  while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return make_error("http_failed", "no response status line from " + hostport);
    head.append(buf, static_cast<size_t>(n));
  }
  // "HTTP/1.1 200 OK"
  auto sp = head.find(' ');
  if (head.rfind("HTTP/1.", 0) != 0 || sp == std::string::npos || head.size() < sp + 4) {
    return make_error("http_failed", "not an HTTP response from " + hostport);
  }
  if (head[sp + 1] != '2') {
    return make_error("http_status",
                      "status " + head.substr(sp + 1, 3) + " from " + hostport + path);
  }
  return {};
}

}  // namespace

Result<void> wait_for_http_ok_in(const std::string& netns, const std::string& url,
                                 Deadline deadline) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return make_error("bad_url", "only http:// URLs: " + url);
  std::string rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (hostport.find(':') == std::string::npos) hostport += ":80";
  std::string last = "no attempt";
  for (;;) {
    Deadline attempt = std::min(deadline, Clock::now() + 2s);
    auto r = http_get_once(netns, hostport, path, attempt);
    if (r) return {};
    if (r.error().code == "bad_address" || r.error().code == "netns_not_found") return r.error();
    last = r.error().message;
    if (Clock::now() >= deadline) {
      return make_error("timeout", "no 2xx from " + url + " in " + netns + ": " + last);
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(100ms, deadline - Clock::now()));
  }
}

unsigned long long process_start_time(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  // Field 3 is the first after ')'; the start time is field 22.
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return 0;
  }
  try {
    return std::stoull(field);
  } catch (const std::exception&) {
    return 0;
  }
}

bool same_process_alive(pid_t pid, unsigned long long start_time) {
  if (pid <= 0) return false;
  unsigned long long now = process_start_time(pid);
  return now != 0 && (start_time == 0 || now == start_time);
}

}  // namespace strait::harness
