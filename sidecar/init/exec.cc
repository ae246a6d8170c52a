// fork/execvp with pipes; the parent multiplexes stdin/stdout/stderr with poll so that neither side
// blocks on a full pipe, and enforces the deadline.
#include "sidecar/init/exec.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace strait::init {
namespace {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int* out() { return &fd_; }

 private:
  int fd_ = -1;
};

Error sys_error(const std::string& what) {
  return make_error("exec_failed", what + ": " + std::strerror(errno));
}

bool make_pipe(Fd& r, Fd& w) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  *r.out() = fds[0];
  *w.out() = fds[1];
  return true;
}

}  // namespace

std::string format_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?[]{}();&|<>#~!") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) {
        if (c == '\'')
          out += "'\\''";
        else
          out += c;
      }
      out += '\'';
    }
  }
  return out;
}

Result<CommandOutput> run_command(const std::vector<std::string>& argv, const std::string& input,
                                  std::chrono::milliseconds timeout) {
  if (argv.empty()) return make_error("exec_failed", "empty command");
  // stdin is a socket so that writing after the child exited gives EPIPE (MSG_NOSIGNAL), not
  // SIGPIPE.
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return sys_error("socketpair");
  Fd in_child(sv[0]), in_parent(sv[1]);
  Fd out_r, out_w, err_r, err_w, status_r, status_w;
  if (!make_pipe(out_r, out_w) || !make_pipe(err_r, err_w) || !make_pipe(status_r, status_w)) {
    return sys_error("pipe");
  }
  ::shutdown(in_child.get(), SHUT_WR);
  // Non-blocking on our side only: a child busy writing a full stdout pipe must not block our send.
  ::fcntl(in_parent.get(), F_SETFL, ::fcntl(in_parent.get(), F_GETFL) | O_NONBLOCK);

  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork");
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec. The status pipe is close-on-exec, so the
    // parent reads EOF on success and an errno on failure.
    ::dup2(in_child.get(), 0);
    ::dup2(out_w.get(), 1);
    ::dup2(err_w.get(), 2);
    ::execvp(cargv[0], cargv.data());
    int e = errno;
    [[maybe_unused]] ssize_t n = ::write(status_w.get(), &e, sizeof e);
    ::_exit(127);
  }
  in_child.reset();
  out_w.reset();
  err_w.reset();
  status_w.reset();

  CommandOutput result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t written = 0;
  if (input.empty()) in_parent.reset();
  bool out_open = true, err_open = true, timed_out = false;
  char buf[4096];
  while (out_open || err_open) {
    pollfd fds[3];
    int n = 0;
    int i_out = -1, i_err = -1, i_in = -1;
    if (out_open) {
      fds[n] = {out_r.get(), POLLIN, 0};
      i_out = n++;
    }
    if (err_open) {
      fds[n] = {err_r.get(), POLLIN, 0};
      i_err = n++;
    }
    if (in_parent.get() >= 0) {
      fds[n] = {in_parent.get(), POLLOUT, 0};
      i_in = n++;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int rc = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(left.count()));
    if (rc < 0) {
      if (errno == EINTR) continue;
      break;
    }
    auto drain = [&](int idx, Fd& fd, std::string& sink, bool& open) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t r = ::read(fd.get(), buf, sizeof buf);
      if (r > 0)
        sink.append(buf, static_cast<size_t>(r));
      else if (r == 0 || errno != EINTR)
        open = false;
    };
    drain(i_out, out_r, result.out, out_open);
    drain(i_err, err_r, result.err, err_open);
    if (i_in >= 0 && (fds[i_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w =
          ::send(in_parent.get(), input.data() + written, input.size() - written, MSG_NOSIGNAL);
      if (w > 0) written += static_cast<size_t>(w);
      if ((w < 0 && errno != EINTR && errno != EAGAIN) || written == input.size())
        in_parent.reset();
    }
  }
  in_parent.reset();
  if (timed_out) ::kill(pid, SIGKILL);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int exec_errno = 0;
  if (::read(status_r.get(), &exec_errno, sizeof exec_errno) ==
      static_cast<ssize_t>(sizeof exec_errno)) {
    return make_error("exec_failed",
                      "cannot run " + argv[0] + ": " + std::strerror(exec_errno) +
                          (exec_errno == ENOENT ? " (is it installed and in PATH?)" : ""));
  }
  if (timed_out) {
    return make_error("command_timeout", format_command(argv) + ": no exit after " +
                                             std::to_string(timeout.count()) + "ms, killed");
  }
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    result.exit_code = 128 + WTERMSIG(status);
  return result;
}

Result<CommandOutput> run_checked(const std::vector<std::string>& argv, const std::string& input,
                                  std::chrono::milliseconds timeout) {
  auto r = run_command(argv, input, timeout);
  if (!r) return r.error();
  if (r->exit_code != 0) {
    std::string err = r->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return make_error("command_failed", format_command(argv) + " exited with code " +
                                            std::to_string(r->exit_code) +
                                            (err.empty() ? std::string() : ": " + err));
  }
  return r;
}

}  // namespace strait::init
