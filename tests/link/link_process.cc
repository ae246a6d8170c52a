// LinkProcess: spawn, find, stop strait-link.
#include "tests/link/link_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "controlplane/server/state_files.h"

namespace strait::link::testing {
namespace fs = std::filesystem;
using controlplane::testing::wait_until;

LinkProcess::LinkProcess(fs::path state_dir, fs::path log_path, std::vector<std::string> flags)
    : state_dir_(std::move(state_dir)), log_path_(std::move(log_path)), flags_(std::move(flags)) {}

LinkProcess::~LinkProcess() {
  stop();
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if ((info && info->result()->Failed()) || std::getenv("STRAIT_TEST_PRINT_LOG")) {
    std::cerr << "---- strait-link log ----\n" << log() << "---- end ----\n";
  }
}

std::string LinkProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<void> LinkProcess::start(std::chrono::milliseconds deadline) {
  if (running()) return make_error("running", "already running");
  std::vector<std::string> args = {binary(), "--state-dir", state_dir_.string(), "--admin.listen",
                                   "127.0.0.1:0"};
  args.insert(args.end(), flags_.begin(), flags_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return make_error("io_error", "cannot open " + log_path_.string());
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    // Asio opens sockets without close-on-exec: the child must not inherit the test's
    // listeners (an in-test gateway server would keep accepting in strait-link).
    for (int i = 3; i < 4096; ++i) ::close(i);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fd);
  if (devnull >= 0) ::close(devnull);
  if (pid < 0) return make_error("spawn_failed", "fork failed");
  pid_ = pid;
  Result<void> found = make_error("timeout", "strait-link wrote no run/strait-link.json");
  wait_until(
      [&] {
        auto text = controlplane::read_file(state_dir_ / "run" / "strait-link.json");
        if (!text) return false;
        boost::system::error_code ec;
        auto j = boost::json::parse(*text, ec);
        if (ec || !j.is_object() || !j.as_object().contains("pid")) return false;
        if (j.at("pid").to_number<std::int64_t>() != pid_) return false;
        const std::string admin(j.at("admin").as_string());
        admin_port_ = static_cast<std::uint16_t>(std::stoi(admin.substr(admin.rfind(':') + 1)));
        found = {};
        return true;
      },
      deadline, std::chrono::milliseconds(20));
  return found;
}

int LinkProcess::stop(std::chrono::milliseconds grace) {
  if (!running()) return -1;
  ::kill(pid_, SIGTERM);
  int code = -1;
  bool done = wait_until(
      [&] {
        int st = 0;
        pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
          code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
          return true;
        }
        return r < 0;
      },
      grace, std::chrono::milliseconds(5));
  if (!done) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
  return code;
}

}  // namespace strait::link::testing
