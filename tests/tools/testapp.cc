// strait-testapp: small peers for harness and integration tests, one binary with modes:
//   echo        --listen IP:PORT                      TCP echo server
//   http        --listen IP:PORT --name NAME [--delay-ms N]
//               HTTP/1.1 server: GET / -> "hello from NAME\n", GET /headers (the request's
//               fields), POST /echo (the body back), GET /big?bytes=N, WebSocket-style upgrade
//               to a raw byte echo; Content-Length and chunked request bodies, 100-continue
//   sink        --listen IP:PORT                      reads to EOF, answers hex SHA-256 + "\n"
//   source      --connect IP:PORT --bytes N --seed S [--expect-match]
//   echo-client --connect IP:PORT --message TEXT [--hold-seconds S]
//   (servers: --port-file PATH gets the bound port, for --listen IP:0)
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

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
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

// Listens on --listen IP:PORT (port 0: any free one), prints "listening IP:PORT" and, with
// --port-file PATH, writes the bound port there (written whole, then renamed into place).
int listen_on(const std::map<std::string, std::string>& f) {
  auto it = f.find("--listen");
  if (it == f.end() || it->second.empty()) die("missing --listen", 2);
  const std::string& addr = it->second;
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
  if (auto pf = f.find("--port-file"); pf != f.end()) {
    const std::string tmp = pf->second + ".tmp";
    std::ofstream out(tmp, std::ios::trunc);
    out << ntohs(bound.sin_port) << "\n";
    out.close();
    if (!out || std::rename(tmp.c_str(), pf->second.c_str()) != 0)
      die("writing --port-file " + pf->second);
  }
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
  int lfd = listen_on(f);
  serve(lfd, [](int c) {
    char buf[16384];
    for (;;) {
      ssize_t n = read_some(c, buf, sizeof buf);
      if (n <= 0 || !write_all(c, buf, static_cast<size_t>(n))) return;
    }
  });
}

// ---- http mode -------------------------------------------------------------------------------

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Comma-separated tokens of a header value, trimmed and lowercased ("keep-alive, Upgrade").
std::vector<std::string> tokens(const std::string& value) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string::npos) comma = value.size();
    std::string t = lower(trim(value.substr(pos, comma - pos)));
    if (!t.empty()) out.push_back(t);
    pos = comma + 1;
  }
  return out;
}

bool has_token(const std::vector<std::string>& ts, const std::string& t) {
  return std::find(ts.begin(), ts.end(), t) != ts.end();
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 18 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// A connection's read side: bytes read past one request stay buffered for the next.
struct Conn {
  int fd;
  std::string buf;

  // Reads more into buf; false on EOF, error or timeout.
  bool more() {
    char tmp[16384];
    ssize_t n = read_some(fd, tmp, sizeof tmp);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
    return true;
  }
  // One CRLF-terminated line (without the CRLF), at most `max` bytes.
  bool line(std::string* out, size_t max = 8192) {
    size_t e;
    while ((e = buf.find("\r\n")) == std::string::npos) {
      if (buf.size() > max || !more()) return false;
    }
    if (e > max) return false;
    *out = buf.substr(0, e);
    buf.erase(0, e + 2);
    return true;
  }
  // Consumes exactly n bytes, appended to *out when out is set.
  bool take(uint64_t n, std::string* out) {
    while (n > 0) {
      if (buf.empty() && !more()) return false;
      size_t k = static_cast<size_t>(std::min<uint64_t>(n, buf.size()));
      if (out) out->append(buf, 0, k);
      buf.erase(0, k);
      n -= k;
    }
    return true;
  }
};

struct Request {
  std::string method, path, query, version;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, in order
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = false;
  bool expect_continue = false;
  bool websocket = false;  // Connection: upgrade + Upgrade: websocket
  bool ambiguous = false;  // both Content-Length and chunked: answer, then close
  std::string ws_key;

  bool http10() const { return version == "HTTP/1.0"; }
  bool has_body() const { return chunked || content_length.value_or(0) > 0; }
};

// Parses a request head (without its final CRLFCRLF). False: malformed, answer 400.
bool parse_head(const std::string& head, Request* r) {
  size_t line_end = head.find("\r\n");
  const std::string request_line = head.substr(0, line_end);
  size_t p1 = request_line.find(' ');
  size_t p2 = request_line.rfind(' ');
  if (p1 == std::string::npos || p2 <= p1) return false;
  r->method = request_line.substr(0, p1);
  std::string target = request_line.substr(p1 + 1, p2 - p1 - 1);
  r->version = request_line.substr(p2 + 1);
  if (r->version != "HTTP/1.1" && r->version != "HTTP/1.0") return false;
  if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {  // absolute-form
    size_t slash = target.find('/', target.find("://") + 3);
    target = slash == std::string::npos ? "/" : target.substr(slash);
  }
  size_t q = target.find('?');
  r->path = target.substr(0, q);
  r->query = q == std::string::npos ? "" : target.substr(q + 1);

  std::vector<std::string> connection, transfer_encoding;
  std::string upgrade;
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    const std::string h = head.substr(pos, e - pos);
    pos = e + 2;
    size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) return false;
    std::string name = lower(h.substr(0, colon));
    std::string value = trim(h.substr(colon + 1));
    if (name == "content-length") {
      if (!all_digits(value)) return false;
      uint64_t n = std::stoull(value);
      if (r->content_length && *r->content_length != n) return false;
      r->content_length = n;
    } else if (name == "transfer-encoding") {
      for (auto& t : tokens(value)) transfer_encoding.push_back(t);
    } else if (name == "connection") {
      for (auto& t : tokens(value)) connection.push_back(t);
    } else if (name == "upgrade") {
      upgrade = lower(value);
    } else if (name == "expect") {
      r->expect_continue = lower(value) == "100-continue";
    } else if (name == "sec-websocket-key") {
      r->ws_key = value;
    }
    r->headers.emplace_back(std::move(name), std::move(value));
  }
  if (!transfer_encoding.empty()) {
    if (transfer_encoding.back() != "chunked") return false;  // no way to find the body's end
    r->chunked = true;
    r->ambiguous = r->content_length.has_value();
    r->content_length.reset();
  }
  r->keep_alive =
      r->http10() ? has_token(connection, "keep-alive") : !has_token(connection, "close");
  if (r->ambiguous) r->keep_alive = false;
  r->websocket = !r->http10() && has_token(connection, "upgrade") &&
                 upgrade.find("websocket") != std::string::npos;
  return true;
}

// Reads the body (Content-Length or chunked, trailers discarded), kept in *out when set.
bool read_body(Conn& c, const Request& r, std::string* out) {
  if (!r.chunked) return c.take(r.content_length.value_or(0), out);
  for (;;) {
    std::string size_line;
    if (!c.line(&size_line)) return false;
    std::string hex = trim(size_line.substr(0, size_line.find(';')));  // drop chunk extensions
    if (hex.empty() || hex.size() > 15 ||
        !std::all_of(hex.begin(), hex.end(), [](unsigned char ch) { return std::isxdigit(ch); })) {
      return false;
    }
    uint64_t size = std::stoull(hex, nullptr, 16);
    if (size == 0) break;
    std::string crlf;
    if (!c.take(size, out) || !c.take(2, &crlf) || crlf != "\r\n") return false;
  }
  for (;;) {  // trailer fields, up to the empty line
    std::string trailer;
    if (!c.line(&trailer)) return false;
    if (trailer.empty()) return true;
  }
}

// Sec-WebSocket-Accept: base64(SHA-1(key + the RFC 6455 GUID)).
std::string websocket_accept(const std::string& key) {
  const std::string in = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha1(), nullptr);
  unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock(b64, md, static_cast<int>(len));
  return std::string(reinterpret_cast<char*>(b64), static_cast<size_t>(n));
}

// /big's body: byte i is 'a' + i % 26.
bool write_pattern(int fd, uint64_t n) {
  std::string block(26 * 2048, 'a');
  for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('a' + i % 26);
  while (n > 0) {  // every write starts at a multiple of 26, so the pattern continues
    size_t k = static_cast<size_t>(std::min<uint64_t>(n, block.size()));
    if (!write_all(fd, block.data(), k)) return false;
    n -= k;
  }
  return true;
}

struct Response {
  std::string status = "200 OK";
  std::string type = "text/plain";
  std::string body;
  uint64_t pattern_bytes = 0;  // when set, the body is that many /big pattern bytes
};

Response route(const Request& r, const std::string& name, std::string&& request_body) {
  const bool get = r.method == "GET" || r.method == "HEAD";
  Response resp;
  auto fail = [&](const char* status, const char* body) {
    resp.status = status;
    resp.body = body;
    return resp;
  };
  if (r.path == "/") {
    if (!get) return fail("405 Method Not Allowed", "method not allowed\n");
    resp.body = "hello from " + name + "\n";
  } else if (r.path == "/headers") {
    if (!get) return fail("405 Method Not Allowed", "method not allowed\n");
    for (const auto& [k, v] : r.headers) resp.body += k + ": " + v + "\n";
  } else if (r.path == "/echo") {
    if (r.method != "POST") return fail("405 Method Not Allowed", "method not allowed\n");
    resp.type = "application/octet-stream";
    resp.body = std::move(request_body);
  } else if (r.path == "/big") {
    if (!get) return fail("405 Method Not Allowed", "method not allowed\n");
    std::string bytes;
    size_t pos = 0;
    while (pos <= r.query.size()) {
      size_t amp = r.query.find('&', pos);
      if (amp == std::string::npos) amp = r.query.size();
      std::string kv = r.query.substr(pos, amp - pos);
      if (kv.rfind("bytes=", 0) == 0) bytes = kv.substr(6);
      pos = amp + 1;
    }
    if (!all_digits(bytes)) return fail("400 Bad Request", "want /big?bytes=N\n");
    resp.type = "application/octet-stream";
    resp.pattern_bytes = std::stoull(bytes);
  } else {
    return fail("404 Not Found", "not found\n");
  }
  return resp;
}

bool send_response(int fd, const Request& r, const Response& resp, bool keep_alive,
                   const std::string& name) {
  const uint64_t length = resp.pattern_bytes ? resp.pattern_bytes : resp.body.size();
  std::string head = (r.http10() ? "HTTP/1.0 " : "HTTP/1.1 ") + resp.status +
                     "\r\nContent-Type: " + resp.type +
                     "\r\nContent-Length: " + std::to_string(length) + "\r\nx-served-by: " + name +
                     "\r\nConnection: " + (keep_alive ? "keep-alive" : "close") + "\r\n\r\n";
  const bool head_only = r.method == "HEAD";
  if (!head_only && !resp.pattern_bytes) head += resp.body;
  if (!write_all(fd, head.data(), head.size())) return false;
  return head_only || !resp.pattern_bytes || write_pattern(fd, resp.pattern_bytes);
}

// After a 101: a raw byte echo until EOF (no WebSocket framing).
void upgraded_echo(Conn& c) {
  if (!c.buf.empty() && !write_all(c.fd, c.buf.data(), c.buf.size())) return;
  c.buf.clear();
  char buf[16384];
  for (;;) {
    ssize_t n = read_some(c.fd, buf, sizeof buf);
    if (n <= 0 || !write_all(c.fd, buf, static_cast<size_t>(n))) return;
  }
}

void serve_http(int fd, const std::string& name, int delay_ms) {
  Conn c{fd, {}};
  for (;;) {  // one request per iteration (keep-alive, pipelining)
    size_t end;
    while ((end = c.buf.find("\r\n\r\n")) == std::string::npos) {
      if (c.buf.size() > 65536 || !c.more()) return;
    }
    const std::string head = c.buf.substr(0, end);
    c.buf.erase(0, end + 4);
    Request r;
    if (!parse_head(head, &r)) {
      send_response(fd, r, {"400 Bad Request", "text/plain", "bad request\n", 0}, false, name);
      return;
    }
    if (r.expect_continue && r.has_body() && !r.http10()) {
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!write_all(fd, kContinue, sizeof kContinue - 1)) return;
    }
    std::string body;
    if (!read_body(c, r, r.path == "/echo" ? &body : nullptr)) {
      send_response(fd, r, {"400 Bad Request", "text/plain", "bad request body\n", 0}, false, name);
      return;
    }
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (r.websocket) {
      std::string resp =
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
      if (!r.ws_key.empty()) resp += "Sec-WebSocket-Accept: " + websocket_accept(r.ws_key) + "\r\n";
      resp += "x-served-by: " + name + "\r\n\r\n";
      if (write_all(fd, resp.data(), resp.size())) upgraded_echo(c);
      return;
    }
    if (!send_response(fd, r, route(r, name, std::move(body)), r.keep_alive, name) ||
        !r.keep_alive) {
      return;
    }
  }
}

int run_http(const Flags& f) {
  const std::string name = need(f, "--name");
  const int delay_ms = f.count("--delay-ms") ? std::stoi(f.at("--delay-ms")) : 0;
  int lfd = listen_on(f);
  serve(lfd, [name, delay_ms](int c) { serve_http(c, name, delay_ms); });
}

int run_sink(const Flags& f) {
  int lfd = listen_on(f);
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
    "  http        --listen IP:PORT --name NAME [--delay-ms N]\n"
    "              GET / -> \"hello from NAME\", GET /headers -> the request's fields as\n"
    "              \"name: value\" lines (names lowercased), POST /echo -> the body back,\n"
    "              GET /big?bytes=N -> N bytes ('a' + i % 26), Connection: upgrade +\n"
    "              Upgrade: websocket -> 101 then a raw byte echo; x-served-by: NAME on every\n"
    "              response; --delay-ms sleeps before each answer\n"
    "  sink        --listen IP:PORT\n"
    "  source      --connect IP:PORT --bytes N [--seed S] [--expect-match]\n"
    "  echo-client --connect IP:PORT --message TEXT [--hold-seconds S]\n"
    "common: --io-timeout-ms MS (default 30000), --connect-timeout-ms MS (default 5000)\n"
    "servers: --port-file PATH writes the bound port (use with --listen IP:0)\n"
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
