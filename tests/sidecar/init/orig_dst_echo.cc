// Test helper for strait-init's tests, run inside a network namespace:
//   orig_dst_echo listen  --netns NAME --addr IP --port P [--reply TEXT]
//     accepts connections forever; answers "TEXT\n", or without --reply the connection's original
//     destination "ip:port\n" (getsockopt SOL_IP SO_ORIGINAL_DST, i.e. where the client aimed
//     before a REDIRECT). Prints "ready\n" on stdout once listening.
//   orig_dst_echo connect --netns NAME --addr IP --port P [--uid UID] [--timeout-ms N]
//     connects (as UID when given), prints what the server sent until EOF; exit 1 on failure.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "orig_dst_echo: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    off += static_cast<size_t>(n);
  }
}

sockaddr_in make_addr(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) {
    std::fprintf(stderr, "orig_dst_echo: bad address %s\n", ip.c_str());
    std::exit(2);
  }
  return a;
}

int listen_mode(const std::map<std::string, std::string>& f) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  int one = 1;
  ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = make_addr(f.at("addr"), std::atoi(f.at("port").c_str()));
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
  if (::listen(s, 64) != 0) die("listen");
  write_all(1, "ready\n");
  auto reply = f.find("reply");
  while (true) {
    int c = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      die("accept");
    }
    std::string out;
    if (reply != f.end()) {
      out = reply->second + "\n";
    } else {
      sockaddr_in orig{};
      socklen_t len = sizeof orig;
      if (::getsockopt(c, SOL_IP, SO_ORIGINAL_DST, &orig, &len) == 0) {
        char ip[INET_ADDRSTRLEN] = {};
        ::inet_ntop(AF_INET, &orig.sin_addr, ip, sizeof ip);
        out = std::string(ip) + ":" + std::to_string(ntohs(orig.sin_port)) + "\n";
      } else {
        out = std::string("no-original-dst ") + std::strerror(errno) + "\n";
      }
    }
    write_all(c, out);
    ::close(c);
  }
}

int connect_mode(const std::map<std::string, std::string>& f) {
  int timeout_ms = f.count("timeout-ms") ? std::atoi(f.at("timeout-ms").c_str()) : 3000;
  if (f.count("uid")) {
    auto id = static_cast<uid_t>(std::strtoul(f.at("uid").c_str(), nullptr, 10));
    if (::setgroups(0, nullptr) != 0 || ::setgid(id) != 0 || ::setuid(id) != 0) die("setuid");
  }
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) die("socket");
  sockaddr_in a = make_addr(f.at("addr"), std::atoi(f.at("port").c_str()));
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS)
    die("connect");
  pollfd p{s, POLLOUT, 0};
  if (::poll(&p, 1, timeout_ms) != 1) {
    errno = ETIMEDOUT;
    die("connect");
  }
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    errno = err;
    die("connect");
  }
  std::string got;
  char buf[512];
  while (true) {
    pollfd r{s, POLLIN, 0};
    if (::poll(&r, 1, timeout_ms) != 1) {
      errno = ETIMEDOUT;
      die("read");
    }
    ssize_t n = ::read(s, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die("read");
    }
    got.append(buf, static_cast<size_t>(n));
  }
  write_all(1, got);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Never outlive the test that started us, even if it crashes.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: orig_dst_echo listen|connect --netns NAME --addr IP --port P ...\n");
    return 2;
  }
  std::string mode = argv[1];
  std::map<std::string, std::string> f;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) {
      std::fprintf(stderr, "orig_dst_echo: unexpected %s\n", k.c_str());
      return 2;
    }
    f[k.substr(2)] = argv[i + 1];
  }
  if (!f.count("addr") || !f.count("port")) {
    std::fprintf(stderr, "orig_dst_echo: --addr and --port are required\n");
    return 2;
  }
  if (f.count("netns")) {
    std::string path = "/var/run/netns/" + f["netns"];
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) die("setns " + path);
    ::close(fd);
  }
  if (mode == "listen") return listen_mode(f);
  if (mode == "connect") return connect_mode(f);
  std::fprintf(stderr, "orig_dst_echo: unknown mode %s\n", mode.c_str());
  return 2;
}
