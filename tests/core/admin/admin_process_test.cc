// End-to-end: start the real strait-admin-demo process, scrape /metrics over a socket, and check
// the exposition with `promtool check metrics` (fed on stdin). The process is killed at the end,
// on failure too.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "tests/core/admin/test_client.h"

extern char** environ;

namespace strait::admin {
namespace {

using namespace std::chrono_literals;
using testing::body_of;
using testing::Conn;
using testing::status_of;

// A child process with pipes to its stdin and stdout; SIGKILLed and reaped on destruction unless
// it already exited.
class Child {
 public:
  Child(const std::vector<std::string>& argv, bool want_stdin) {
    int out[2], in[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    if (want_stdin && ::pipe2(in, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);  // promtool reports problems on stderr
    if (want_stdin) posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    out_ = out[0];
    if (want_stdin) {
      ::close(in[0]);
      in_ = in[1];
    }
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
    if (out_ >= 0) ::close(out_);
    close_stdin();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }

  void write_stdin(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(in_, data.data() + off, data.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }
  void close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }

  // Reads stdout until it holds a newline (the first line) or until EOF, within the deadline.
  std::string read_output(bool first_line_only, std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (!(first_line_only && out_buf_.find('\n') != std::string::npos)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) break;
      out_buf_.append(buf, static_cast<size_t>(n));
    }
    if (!first_line_only) return out_buf_;
    return out_buf_.substr(0, out_buf_.find('\n'));
  }

  // The exit code, or -1 if it did not exit within the deadline (or died on a signal).
  int wait_exit(std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      ::usleep(5000);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int out_ = -1, in_ = -1;
  std::string out_buf_;
};

TEST(AdminProcess, MetricsPassPromtoolCheck) {
  std::string promtool = STRAIT_PROMTOOL;
  ASSERT_FALSE(promtool.empty() || promtool.ends_with("NOTFOUND"))
      << "promtool not found (Debian package prometheus, see scripts/install-deps.sh)";

  Child demo({STRAIT_ADMIN_DEMO}, false);
  ASSERT_TRUE(demo.started()) << STRAIT_ADMIN_DEMO;
  // The demo logs to stderr, which shares the pipe: find the line that is only the port.
  int port = 0;
  for (int i = 0; i < 20 && port == 0; ++i) {
    std::string all = demo.read_output(false, 200ms);
    size_t pos = 0;
    while (pos < all.size()) {
      size_t nl = all.find('\n', pos);
      if (nl == std::string::npos) break;
      std::string line = all.substr(pos, nl - pos);
      if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos)
        port = std::stoi(line);
      pos = nl + 1;
    }
  }
  ASSERT_GT(port, 0) << "the demo did not print its port";

  Conn c(static_cast<std::uint16_t>(port));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  std::string r = c.read_response();
  ASSERT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  std::string metrics = body_of(r);
  // The awkward cases really are in there.
  EXPECT_NE(metrics.find("route=\"quote\\\"d \\\\back\\\\slash\\nnew line\""), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("demo_open_connections{peer=\"nan\"} Nan\n"), std::string::npos);
  EXPECT_NE(metrics.find("demo_open_connections{peer=\"plus-inf\"} +Inf\n"), std::string::npos);
  EXPECT_NE(metrics.find("le=\"+Inf\""), std::string::npos);
  EXPECT_EQ(metrics.find("peer=\"gone\""), std::string::npos);

  Child check({promtool, "check", "metrics"}, true);
  ASSERT_TRUE(check.started());
  check.write_stdin(metrics);
  check.close_stdin();
  std::string report = check.read_output(false, 30s);
  int code = check.wait_exit(30s);
  EXPECT_EQ(code, 0) << "promtool check metrics failed:\n"
                     << report << "\n--- exposition:\n"
                     << metrics;

  // A sanity check that promtool is a real judge: a broken exposition must fail.
  Child bad({promtool, "check", "metrics"}, true);
  bad.write_stdin("# TYPE x counter\nx{a=\"unterminated} 1\n");
  bad.close_stdin();
  (void)bad.read_output(false, 30s);
  EXPECT_NE(bad.wait_exit(30s), 0);

  // Graceful exit through the loopback-only handler: the process leaves no work behind.
  Conn s(static_cast<std::uint16_t>(port));
  ASSERT_TRUE(s.send("POST /shutdown HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(status_of(s.read_response()), 200);
  EXPECT_EQ(demo.wait_exit(10s), 0);
}

}  // namespace
}  // namespace strait::admin
