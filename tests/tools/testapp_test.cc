// testapp_test: the test peers themselves, on loopback and without root. strait-testapp's http
// mode (routes, x-served-by, Content-Length / chunked / 100-continue bodies, keep-alive and
// HTTP/1.0, --delay-ms, the upgrade to a byte echo, --port-file) and strait-grpc-testapp's server
// and client (per-server counts, statuses, trailers, streaming, deadlines, bad flags).
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "harness/process.h"

namespace strait::harness {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kTools = std::string(STRAIT_BUILD_DIR) + "/tests/tools";
const std::string kTestapp = kTools + "/strait-testapp";
const std::string kGrpcTestapp = kTools + "/strait-grpc-testapp";

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A private directory, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "testapp_test.XXXXXX").string();
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A server peer on 127.0.0.1:0 (--port-file tells the port). Its process group is killed on
// destruction, so a failing test leaves nothing running.
class Server {
 public:
  // argv: the program, its mode and flags, without --listen / --port-file.
  explicit Server(std::vector<std::string> argv) {
    if (dir_.path().empty()) {
      error_ = "no temporary directory";
      return;
    }
    const fs::path port_file = dir_.path() / "port";
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0", "--port-file", port_file.string()});
    SpawnOptions o;
    o.stdout_path = o.stderr_path = (dir_.path() / "log").string();
    auto p = spawn_in("", argv, o);
    if (!p) {
      error_ = p.error().to_string();
      return;
    }
    proc_ = std::move(*p);
    auto ready = wait_until([&] { return !proc_->running() || fs::exists(port_file); },
                            deadline_in(10s), 5ms);
    if (!ready || !proc_->running()) {
      error_ = "did not start: " + log();
      return;
    }
    port_ = std::stoi(read_file(port_file));
  }
  ~Server() {
    if (proc_) proc_->kill();
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url(const std::string& path) const { return "http://" + addr() + path; }
  std::string log() const { return read_file(dir_.path() / "log"); }

 private:
  TempDir dir_;
  std::optional<Process> proc_;
  int port_ = 0;
  std::string error_;
};

ExecResult or_error(const Result<ExecResult>& r) {
  if (r) return *r;
  ExecResult failed;
  failed.err = r.error().to_string();
  return failed;
}

// curl, loopback only (--noproxy: never an http_proxy from the environment).
ExecResult curl(std::vector<std::string> args) {
  std::vector<std::string> argv = {"curl", "-sS", "--noproxy", "*", "--max-time", "5"};
  argv.insert(argv.end(), args.begin(), args.end());
  return or_error(exec_in("", argv, 10s));
}

ExecResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 30s) {
  return or_error(exec_in("", argv, timeout));
}

// A raw TCP client with a deadline on every read.
class Conn {
 public:
  explicit Conn(const std::string& addr) {
    auto fd = connect_in("", addr, deadline_in(5s));
    if (fd) fd_ = std::move(*fd);
  }
  bool ok() const { return static_cast<bool>(fd_); }

  bool send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_.get(), s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  void shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }

  // Reads into buf_ once; false on EOF, error or the deadline.
  bool more(Deadline deadline) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd_.get(), POLLIN, 0};
    if (ms.count() <= 0 || ::poll(&p, 1, static_cast<int>(ms.count())) != 1) return false;
    char tmp[16384];
    ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  // Everything up to and including `delim` ("" when it does not come in time).
  std::string until(const std::string& delim, std::chrono::milliseconds timeout = 5s) {
    const Deadline d = deadline_in(timeout);
    size_t e;
    while ((e = buf_.find(delim)) == std::string::npos) {
      if (!more(d)) return "";
    }
    std::string out = buf_.substr(0, e + delim.size());
    buf_.erase(0, e + delim.size());
    return out;
  }
  std::string take(size_t n, std::chrono::milliseconds timeout = 5s) {
    const Deadline d = deadline_in(timeout);
    while (buf_.size() < n) {
      if (!more(d)) break;
    }
    std::string out = buf_.substr(0, std::min(n, buf_.size()));
    buf_.erase(0, out.size());
    return out;
  }
  // Whether the peer closes (EOF) before the deadline, with nothing more to read.
  bool closed(std::chrono::milliseconds timeout = 5s) {
    const Deadline d = deadline_in(timeout);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d - Clock::now());
    pollfd p{fd_.get(), POLLIN, 0};
    if (!buf_.empty() || ::poll(&p, 1, static_cast<int>(ms.count())) != 1) return false;
    char c;
    return ::recv(fd_.get(), &c, 1, 0) == 0;
  }

  struct Response {
    std::string head;  // status line and fields, with the final CRLFCRLF
    std::string body;
  };
  // One response framed by Content-Length.
  Response response() {
    Response r;
    r.head = until("\r\n\r\n");
    auto cl = r.head.find("Content-Length: ");
    if (cl != std::string::npos) r.body = take(std::stoul(r.head.substr(cl + 16)));
    return r;
  }

 private:
  UniqueFd fd_;
  std::string buf_;
};

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l == line || l == line + "\r") return true;
  }
  return false;
}

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(app_.ok()) << app_.error(); }
  Server app_{{kTestapp, "http", "--name", "alpha"}};
};

TEST_F(HttpTest, HelloKeepsItsFramingAndSaysWhoServed) {
  auto r = curl({"-i", "-w", "connects %{num_connects}\n", app_.url("/"), app_.url("/")});
  ASSERT_TRUE(r.success()) << r.err;
  EXPECT_EQ(r.out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r.out;
  EXPECT_TRUE(has_line(r.out, "Content-Length: 17")) << r.out;
  EXPECT_TRUE(has_line(r.out, "x-served-by: alpha")) << r.out;
  EXPECT_TRUE(has_line(r.out, "Connection: keep-alive")) << r.out;
  EXPECT_TRUE(has_line(r.out, "hello from alpha")) << r.out;
  EXPECT_TRUE(has_line(r.out, "connects 1")) << r.out;  // the first connected
  EXPECT_TRUE(has_line(r.out, "connects 0")) << r.out;  // the second reused it
  auto missing = curl({"-o", "/dev/null", "-w", "%{http_code}", app_.url("/nope")});
  EXPECT_EQ(missing.out, "404");
}

TEST_F(HttpTest, HeadersListsTheRequestFieldsLowercased) {
  auto r = curl({"-H", "strait-client-id: spiffe://east.strait/ns/shop/sa/web", "-H",
                 "X-Mixed-Case:   Some Value  ", app_.url("/headers")});
  ASSERT_TRUE(r.success()) << r.err;
  EXPECT_TRUE(has_line(r.out, "strait-client-id: spiffe://east.strait/ns/shop/sa/web")) << r.out;
  EXPECT_TRUE(has_line(r.out, "x-mixed-case: Some Value")) << r.out;
  EXPECT_TRUE(has_line(r.out, "host: " + app_.addr())) << r.out;
  EXPECT_EQ(r.out.find("X-Mixed-Case"), std::string::npos) << r.out;
}

TEST_F(HttpTest, EchoReturnsAChunkedBody) {
  TempDir dir;
  std::string data;
  for (int i = 0; i < 200000; ++i) data += static_cast<char>('0' + i % 77);
  const fs::path file = dir.path() / "body";
  std::ofstream(file) << data;
  auto r = curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + file.string(),
                 app_.url("/echo")});
  ASSERT_TRUE(r.success()) << r.err;
  EXPECT_EQ(r.out.size(), data.size());
  EXPECT_TRUE(r.out == data);
  auto plain = curl({"--data-binary", "content-length body", app_.url("/echo")});
  EXPECT_EQ(plain.out, "content-length body");
}

// Chunk extensions and trailers are consumed exactly: the pipelined next request still parses.
TEST_F(HttpTest, ChunkedTrailersThenAPipelinedRequest) {
  Conn c(app_.addr());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"
             "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto echo = c.response();
  EXPECT_EQ(echo.head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << echo.head;
  EXPECT_EQ(echo.body, "hello world");
  auto hello = c.response();
  EXPECT_EQ(hello.body, "hello from alpha\n") << hello.head;
  // A malformed chunk size: 400, then the connection closes.
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
  auto bad = c.response();
  EXPECT_EQ(bad.head.rfind("HTTP/1.1 400", 0), 0u) << bad.head;
  EXPECT_TRUE(c.closed());
}

TEST_F(HttpTest, ExpectContinueGetsA100BeforeTheBody) {
  Conn c(app_.addr());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  EXPECT_EQ(c.until("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.send("abcde"));
  auto r = c.response();
  EXPECT_EQ(r.head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r.head;
  EXPECT_EQ(r.body, "abcde");
}

TEST_F(HttpTest, BigSendsNPatternBytes) {
  auto r = curl({app_.url("/big?bytes=300000")});
  ASSERT_TRUE(r.success()) << r.err;
  ASSERT_EQ(r.out.size(), 300000u);
  size_t wrong = 0;
  for (size_t i = 0; i < r.out.size(); ++i) wrong += r.out[i] != static_cast<char>('a' + i % 26);
  EXPECT_EQ(wrong, 0u);
  auto head = curl({"-I", app_.url("/big?bytes=1234")});
  EXPECT_TRUE(has_line(head.out, "Content-Length: 1234")) << head.out;
  auto bad = curl({"-o", "/dev/null", "-w", "%{http_code}", app_.url("/big?bytes=x")});
  EXPECT_EQ(bad.out, "400");
}

TEST_F(HttpTest, Http10ClosesUnlessKeepAliveIsAsked) {
  {
    Conn c(app_.addr());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.send("GET / HTTP/1.0\r\n\r\n"));
    auto r = c.response();
    EXPECT_EQ(r.head.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << r.head;
    EXPECT_NE(r.head.find("Connection: close\r\n"), std::string::npos) << r.head;
    EXPECT_EQ(r.body, "hello from alpha\n");
    EXPECT_TRUE(c.closed());
  }
  Conn c(app_.addr());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = c.response();
    EXPECT_EQ(r.head.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << r.head;
    EXPECT_NE(r.head.find("Connection: keep-alive\r\n"), std::string::npos) << r.head;
    EXPECT_EQ(r.body, "hello from alpha\n");
  }
}

TEST_F(HttpTest, WebSocketUpgradeBecomesAByteEcho) {
  Conn c(app_.addr());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.send("GET /chat HTTP/1.1\r\nHost: web\r\nConnection: keep-alive, Upgrade\r\n"
             "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nearly bytes"));
  const std::string head = c.until("\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos)
      << head;  // RFC 6455's example key and answer
  EXPECT_NE(head.find("x-served-by: alpha\r\n"), std::string::npos) << head;
  EXPECT_EQ(c.take(11), "early bytes");
  ASSERT_TRUE(c.send("frames are just bytes"));
  EXPECT_EQ(c.take(21), "frames are just bytes");
  const std::string big(300000, 'w');
  std::thread writer([&] { c.send(big); });  // the echo comes back while we still send
  const std::string back = c.take(big.size(), 10s);
  writer.join();
  EXPECT_TRUE(back == big) << back.size();
  c.shutdown_write();
  EXPECT_TRUE(c.closed());
}

TEST(HttpDelay, DelayMsSlowsEveryAnswer) {
  Server slow({kTestapp, "http", "--name", "slow", "--delay-ms", "300"});
  ASSERT_TRUE(slow.ok()) << slow.error();
  for (int i = 0; i < 2; ++i) {
    const auto start = Clock::now();
    auto r = curl({slow.url("/")});
    const auto took = Clock::now() - start;
    ASSERT_TRUE(r.success()) << r.err;
    EXPECT_EQ(r.out, "hello from slow\n");
    EXPECT_GE(took, 300ms);
  }
}

// The other modes keep working and also take --port-file.
TEST(EchoMode, EchoesWithPortFile) {
  Server echo({kTestapp, "echo"});
  ASSERT_TRUE(echo.ok()) << echo.error();
  auto r = run({kTestapp, "echo-client", "--connect", echo.addr(), "--message", "ping"});
  EXPECT_TRUE(r.success()) << r.out << r.err;
  EXPECT_NE(r.out.find("ok 1 echo(s)"), std::string::npos) << r.out;
}

TEST(Grpc, ClientCountsServersStatusesAndStreams) {
  Server server({kGrpcTestapp, "server", "--name", "g1"});
  ASSERT_TRUE(server.ok()) << server.error();
  auto r = run(
      {kGrpcTestapp, "client", "--target", server.addr(), "--calls", "300", "--stream-count", "5"},
      60s);
  ASSERT_TRUE(r.success()) << r.status.to_string() << "\n" << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "served_by g1 300")) << r.out;
  EXPECT_TRUE(has_line(r.out, "errors 0")) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "trailers_missing 0")) << r.out;
  EXPECT_TRUE(has_line(r.out, "fail_status 3 asked to fail")) << r.out;
  EXPECT_TRUE(has_line(r.out, "stream_replies 5")) << r.out;
  EXPECT_TRUE(has_line(r.out, "stream_status 0")) << r.out;
  auto no_stream = run({kGrpcTestapp, "client", "--target", server.addr(), "--calls", "1"});
  ASSERT_TRUE(no_stream.success()) << no_stream.err;
  EXPECT_EQ(no_stream.out.find("stream_"), std::string::npos) << no_stream.out;
}

TEST(Grpc, DeadlinesCountAsErrors) {
  Server slow({kGrpcTestapp, "server", "--name", "slow", "--delay-ms", "500"});
  ASSERT_TRUE(slow.ok()) << slow.error();
  auto r = run({kGrpcTestapp, "client", "--target", slow.addr(), "--calls", "2", "--deadline-ms",
                "100", "--stream-count", "2"});
  ASSERT_TRUE(r.success()) << r.err;
  EXPECT_TRUE(has_line(r.out, "errors 2")) << r.out;
  EXPECT_NE(r.err.find("first error (call 0): 4 "), std::string::npos) << r.err;
  EXPECT_TRUE(has_line(r.out, "stream_replies 0")) << r.out;
  EXPECT_TRUE(has_line(r.out, "stream_status 4")) << r.out;
}

TEST(Grpc, BadFlagsFail) {
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {kGrpcTestapp},
           {kGrpcTestapp, "client", "--calls", "1"},
           {kGrpcTestapp, "client", "--target", "localhost:50051", "--calls", "1"},
           {kGrpcTestapp, "client", "--target", "127.0.0.1:1", "--calls", "x"},
           {kGrpcTestapp, "client", "--target", "127.0.0.1:1", "--calls", "1", "--bogus", "1"},
           {kGrpcTestapp, "server", "--listen", "127.0.0.1:0"},
       }) {
    auto r = run(argv);
    EXPECT_TRUE(r.status.exited && r.status.code == 2)
        << argv.back() << ": " << r.status.to_string();
  }
}

}  // namespace
}  // namespace strait::harness
