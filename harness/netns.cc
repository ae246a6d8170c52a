// Named network namespaces through iproute2, plus a /proc scan for the processes inside one.
#include "harness/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "harness/process.h"

namespace strait::harness {

namespace {

using namespace std::chrono_literals;

const char kNetnsDir[] = "/var/run/netns";

std::string join(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

Result<void> check(const Result<ExecResult>& r, const std::vector<std::string>& argv) {
  if (!r) return r.error();
  if (r->success()) return {};
  std::string why = r->err.empty() ? r->out : r->err;
  while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
  return make_error("command_failed", "`" + join(argv) + "` " +
                                          (r->timed_out ? "timed out" : r->status.to_string()) +
                                          (why.empty() ? "" : ": " + why));
}

}  // namespace

std::vector<std::string> list_netns() {
  std::vector<std::string> names;
  DIR* d = ::opendir(kNetnsDir);
  if (!d) return names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  return names;
}

bool netns_exists(const std::string& name) {
  struct stat st;
  return ::stat((std::string(kNetnsDir) + "/" + name).c_str(), &st) == 0;
}

Result<void> create_netns(const std::string& name) {
  return run_command({"ip", "netns", "add", name});
}

std::vector<pid_t> netns_pids(const std::string& name) {
  std::vector<pid_t> pids;
  struct stat ns;
  if (::stat((std::string(kNetnsDir) + "/" + name).c_str(), &ns) != 0) return pids;
  DIR* d = ::opendir("/proc");
  if (!d) return pids;
  while (dirent* e = ::readdir(d)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    struct stat st;
    std::string p = std::string("/proc/") + e->d_name + "/ns/net";
    if (::stat(p.c_str(), &st) == 0 && st.st_ino == ns.st_ino && st.st_dev == ns.st_dev) {
      pids.push_back(static_cast<pid_t>(pid));
    }
  }
  ::closedir(d);
  return pids;
}

Result<void> delete_netns(const std::string& name) {
  if (!netns_exists(name)) return {};
  // A namespace lives on while a process is inside it: end them first. They are not our
  // children (or were reaped already), so wait for them to vanish from /proc.
  for (int round = 0; round < 100; ++round) {
    auto pids = netns_pids(name);
    if (pids.empty()) break;
    for (pid_t pid : pids) {
      if (pid != ::getpid()) ::kill(pid, SIGKILL);
    }
    // Our own unreaped children stay as zombies in /proc until reaped (others' get ECHILD).
    for (pid_t pid : pids) ::waitpid(pid, nullptr, WNOHANG);
    std::this_thread::sleep_for(20ms);
  }
  auto r = run_command({"ip", "netns", "delete", name});
  if (!r && !netns_exists(name)) return {};
  return r;
}

Result<void> run_command(const std::vector<std::string>& argv) {
  return check(exec_in("", argv, 10s), argv);
}

Result<void> run_command_in(const std::string& netns, const std::vector<std::string>& argv) {
  return check(exec_in(netns, argv, 10s), argv);
}

Result<void> write_sysctl_in(const std::string& netns, const std::string& key,
                             const std::string& value) {
  UniqueFd nsfd(::open((std::string(kNetnsDir) + "/" + netns).c_str(), O_RDONLY | O_CLOEXEC));
  if (!nsfd) return make_error("netns_not_found", "no namespace " + netns);
  const std::string path = "/proc/sys/" + key;
  // /proc/sys/net shows the namespace of the process that opens it: open from a child inside.
  pid_t pid = ::fork();
  if (pid < 0) return make_error("sysctl_failed", std::strerror(errno));
  if (pid == 0) {
    if (::setns(nsfd.get(), CLONE_NEWNET) != 0) ::_exit(1);
    int fd = ::open(path.c_str(), O_WRONLY);
    if (fd < 0) ::_exit(2);
    if (::write(fd, value.data(), value.size()) != static_cast<ssize_t>(value.size())) ::_exit(3);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return make_error("sysctl_failed", "cannot set " + key + "=" + value + " in " + netns);
  }
  return {};
}

}  // namespace strait::harness
