// strait-testapp: small peers for harness and integration tests, one binary with modes:
//   echo        --listen IP:PORT                      TCP echo server
//   http        --listen IP:PORT --name NAME          HTTP/1.1 "hello from NAME\n" on GET /
//   sink        --listen IP:PORT                      reads to EOF, answers hex SHA-256 + "\n"
//   source      --connect IP:PORT --bytes N --seed S [--expect-match]
//   echo-client --connect IP:PORT --message TEXT [--hold-seconds S]
//   (clients: --proxy HOST:PORT goes through an HTTP CONNECT proxy, e.g. a proxy's explicit port)
// Plain blocking sockets, a thread per connection, and a timeout on every read, write and connect.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int g_io_timeout_ms = 30000;  // each read/write
int g_connect_timeout_ms = 5000;

[[noreturn]] void die(const std::string& msg, int code = 1) {
  std::cerr << "strait-testapp: " << msg << "\n";
  std::exit(code);
}

std::optional<sockaddr_in> parse_addr(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (::inet_pton(AF_INET, s.substr(0, colon).c_str(), &sa.sin_addr) != 1) return std::nullopt;
  char* end;
  long port = std::strtol(s.c_str() + colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535) return std::nullopt;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  return sa;
}

void set_timeouts(int fd) {
  timeval tv{g_io_timeout_ms / 1000, (g_io_timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool write_all(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// >0 bytes, 0 EOF, -1 error or timeout.
ssize_t read_some(int fd, void* buf, size_t len) {
  for (;;) {
    ssize_t n = ::recv(fd, buf, len, 0);
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? -1 : n;
  }
}

int listen_on(const std::string& addr) {
  auto sa = parse_addr(addr);
  if (!sa) die("bad --listen address " + addr, 2);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&*sa), sizeof *sa) != 0)
    die("bind " + addr + ": " + std::strerror(errno));
  if (::listen(fd, 128) != 0) die("listen: " + std::string(std::strerror(errno)));
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  char ip[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &bound.sin_addr, ip, sizeof ip);
  std::cout << "listening " << ip << ":" << ntohs(bound.sin_port) << std::endl;
  return fd;
}

int connect_to(const std::string& addr) {
  auto sa = parse_addr(addr);
  if (!sa) die("bad --connect address " + addr, 2);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&*sa), sizeof *sa) != 0) {
    if (errno != EINPROGRESS) die("connect " + addr + ": " + std::strerror(errno));
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, g_connect_timeout_ms) != 1) die("connect " + addr + ": timed out");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) die("connect " + addr + ": " + std::strerror(err));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  set_timeouts(fd);
  return fd;
}

// A connection to `addr`, directly or (with --proxy HOST:PORT) through an HTTP CONNECT proxy
// such as strait-proxy's explicit port.
int open_to(const std::map<std::string, std::string>& f, const std::string& addr) {
  auto proxy = f.find("--proxy");
  if (proxy == f.end()) return connect_to(addr);
  int fd = connect_to(proxy->second);
  const std::string req = "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n";
  if (!write_all(fd, req.data(), req.size())) die("proxy " + proxy->second + ": write failed");
  std::string head;
  char c;
  while (head.size() < 8192 && head.find("\r\n\r\n") == std::string::npos) {
    if (::recv(fd, &c, 1, 0) != 1) die("proxy " + proxy->second + ": closed during CONNECT");
    head += c;
  }
  if (head.rfind("HTTP/1.1 200", 0) != 0 && head.rfind("HTTP/1.0 200", 0) != 0) {
    die("proxy " + proxy->second + " refused CONNECT " + addr + ": " +
        head.substr(0, head.find("\r\n")));
  }
  return fd;
}

// Accept forever; one detached thread per connection (a test peer, ended by a signal).
template <typename Handler>
[[noreturn]] void serve(int lfd, Handler handler) {
  for (;;) {
    int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
      die("accept: " + std::string(std::strerror(errno)));
    }
    set_timeouts(c);
    std::thread([c, handler] {
      handler(c);
      ::close(c);
    }).detach();
  }
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len) { EVP_DigestUpdate(ctx_, data, len); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 15];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// splitmix64: the same seed gives the same bytes everywhere.
struct ByteStream {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  void fill(unsigned char* p, size_t n) {
    while (n >= 8) {
      uint64_t v = next();
      std::memcpy(p, &v, 8);
      p += 8;
      n -= 8;
    }
    if (n) {
      uint64_t v = next();
      std::memcpy(p, &v, n);
    }
  }
};

using Flags = std::map<std::string, std::string>;

std::string need(const Flags& f, const std::string& k) {
  auto it = f.find(k);
  if (it == f.end() || it->second.empty()) die("missing " + k, 2);
  return it->second;
}

int run_echo(const Flags& f) {
  int lfd = listen_on(need(f, "--listen"));
  serve(lfd, [](int c) {
    char buf[16384];
    for (;;) {
      ssize_t n = read_some(c, buf, sizeof buf);
      if (n <= 0 || !write_all(c, buf, static_cast<size_t>(n))) return;
    }
  });
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

int run_http(const Flags& f) {
  const std::string name = need(f, "--name");
  int lfd = listen_on(need(f, "--listen"));
  serve(lfd, [name](int c) {
    std::string buf;
    char tmp[8192];
    for (;;) {  // one request per iteration (keep-alive)
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (buf.size() > 65536) return;
        ssize_t n = read_some(c, tmp, sizeof tmp);
        if (n <= 0) return;
        buf.append(tmp, static_cast<size_t>(n));
      }
      std::string head = buf.substr(0, end);
      buf.erase(0, end + 4);
      auto line_end = head.find("\r\n");
      std::string request_line = head.substr(0, line_end);
      std::string method = request_line.substr(0, request_line.find(' '));
      auto p1 = request_line.find(' ');
      auto p2 = request_line.rfind(' ');
      std::string target =
          p1 != std::string::npos && p2 > p1 ? request_line.substr(p1 + 1, p2 - p1 - 1) : "";
      std::string version = p2 != std::string::npos ? request_line.substr(p2 + 1) : "";
      size_t content_length = 0;
      bool keep_alive = version == "HTTP/1.1";
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        auto e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string h = head.substr(pos, e - pos);
        pos = e + 2;
        auto colon = h.find(':');
        if (colon == std::string::npos) continue;
        std::string key = lower(h.substr(0, colon));
        std::string value = h.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (key == "content-length") content_length = std::strtoul(value.c_str(), nullptr, 10);
        if (key == "connection") {
          std::string v = lower(value);
          if (v.find("close") != std::string::npos) keep_alive = false;
          if (v.find("keep-alive") != std::string::npos) keep_alive = true;
        }
      }
      while (buf.size() < content_length) {  // discard a request body
        ssize_t n = read_some(c, tmp, sizeof tmp);
        if (n <= 0) return;
        buf.append(tmp, static_cast<size_t>(n));
      }
      buf.erase(0, content_length);
      std::string status = "200 OK";
      std::string body = "hello from " + name + "\n";
      if (method != "GET" && method != "HEAD") {
        status = "405 Method Not Allowed";
        body = "method not allowed\n";
      } else if (target != "/") {
        status = "404 Not Found";
        body = "not found\n";
      }
      std::string resp = "HTTP/1.1 " + status + "\r\nContent-Type: text/plain\r\nContent-Length: " +
                         std::to_string(body.size()) +
                         "\r\nConnection: " + (keep_alive ? "keep-alive" : "close") + "\r\n\r\n" +
                         (method == "HEAD" ? "" : body);
      if (!write_all(c, resp.data(), resp.size()) || !keep_alive) return;
    }
  });
}

int run_sink(const Flags& f) {
  int lfd = listen_on(need(f, "--listen"));
  serve(lfd, [](int c) {
    Sha256 sha;
    std::vector<char> buf(65536);
    for (;;) {
      ssize_t n = read_some(c, buf.data(), buf.size());
      if (n < 0) return;  // timeout or reset: no answer
      if (n == 0) break;
      sha.update(buf.data(), static_cast<size_t>(n));
    }
    std::string reply = sha.hex() + "\n";
    write_all(c, reply.data(), reply.size());
  });
}

int run_source(const Flags& f) {
  const std::string addr = need(f, "--connect");
  const unsigned long long total = std::stoull(need(f, "--bytes"));
  const unsigned long long seed = f.count("--seed") ? std::stoull(f.at("--seed")) : 1;
  int fd = open_to(f, addr);
  ByteStream rng{seed};
  Sha256 sha;
  std::vector<unsigned char> buf(65536);
  unsigned long long left = total;
  while (left > 0) {
    size_t n = static_cast<size_t>(std::min<unsigned long long>(left, buf.size()));
    rng.fill(buf.data(), n);
    sha.update(buf.data(), n);
    if (!write_all(fd, buf.data(), n)) die("send to " + addr + ": " + std::strerror(errno));
    left -= n;
  }
  ::shutdown(fd, SHUT_WR);
  std::string reply;
  char tmp[4096];
  for (;;) {
    ssize_t n = read_some(fd, tmp, sizeof tmp);
    if (n < 0) die("reading the reply from " + addr + ": " + std::strerror(errno));
    if (n == 0) break;
    reply.append(tmp, static_cast<size_t>(n));
  }
  ::close(fd);
  const std::string sent = sha.hex();
  std::cout << reply << std::flush;
  std::cerr << "sent=" << sent << "\n";
  if (f.count("--expect-match")) {
    std::string got = reply;
    while (!got.empty() && (got.back() == '\n' || got.back() == '\r')) got.pop_back();
    if (got != sent) {
      std::cerr << "mismatch: reply " << got << " != sent " << sent << "\n";
      return 1;
    }
  }
  return 0;
}

bool echo_once(int fd, const std::string& msg) {
  if (!write_all(fd, msg.data(), msg.size())) return false;
  std::string back;
  char tmp[4096];
  while (back.size() < msg.size()) {
    ssize_t n = read_some(fd, tmp, std::min(sizeof tmp, msg.size() - back.size()));
    if (n <= 0) return false;
    back.append(tmp, static_cast<size_t>(n));
  }
  return back == msg;
}

int run_echo_client(const Flags& f) {
  const std::string addr = need(f, "--connect");
  const std::string msg = need(f, "--message");
  const int hold = f.count("--hold-seconds") ? std::stoi(f.at("--hold-seconds")) : 0;
  int fd = open_to(f, addr);
  if (!echo_once(fd, msg)) die("echo from " + addr + " did not match");
  const auto end = Clock::now() + std::chrono::seconds(hold);
  int checks = 1;
  while (Clock::now() < end) {
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::seconds(1), end - Clock::now()));
    if (!echo_once(fd, msg))
      die("echo from " + addr + " failed after " + std::to_string(checks) + " checks");
    ++checks;
  }
  ::close(fd);
  std::cout << "ok " << checks << " echo(s) from " << addr << std::endl;
  return 0;
}

const char kUsage[] =
    "usage: strait-testapp MODE [flags]\n"
    "  echo        --listen IP:PORT\n"
    "  http        --listen IP:PORT --name NAME\n"
    "  sink        --listen IP:PORT\n"
    "  source      --connect IP:PORT --bytes N [--seed S] [--expect-match]\n"
    "  echo-client --connect IP:PORT --message TEXT [--hold-seconds S]\n"
    "common: --io-timeout-ms MS (default 30000), --connect-timeout-ms MS (default 5000)\n"
    "clients: --proxy HOST:PORT connects through an HTTP CONNECT proxy\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const std::string mode = argv[1];
  Flags f;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) die("unexpected argument " + k + "\n" + kUsage, 2);
    if (k == "--expect-match") {
      f[k] = "1";
    } else if (i + 1 < argc) {
      f[k] = argv[++i];
    } else {
      die(k + " needs a value", 2);
    }
  }
  try {
    if (f.count("--io-timeout-ms")) g_io_timeout_ms = std::stoi(f["--io-timeout-ms"]);
    if (f.count("--connect-timeout-ms"))
      g_connect_timeout_ms = std::stoi(f["--connect-timeout-ms"]);
    if (mode == "echo") return run_echo(f);
    if (mode == "http") return run_http(f);
    if (mode == "sink") return run_sink(f);
    if (mode == "source") return run_source(f);
    if (mode == "echo-client") return run_echo_client(f);
  } catch (const std::exception& e) {
    die(std::string("bad number: ") + e.what(), 2);
  }
  std::cerr << "strait-testapp: unknown mode " << mode << "\n" << kUsage;
  return 2;
}
