// GatewayEnv: processes, the remote client's TLS connections and the small helpers around them.
#include "tests/gateway/gateway_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "controlplane/client/certify.h"
#include "controlplane/server/state_files.h"
#include "core/identity/spiffe_id.h"
#include "core/tls/authority.h"
#include "core/tls/csr.h"
#include "core/tls/key.h"
#include "core/tls/trust_bundle.h"
#include "sidecar/proxy/transport_header.h"

namespace strait::gateway_it {
namespace asio = boost::asio;

namespace {

std::string build_path(const std::string& rel) { return std::string(STRAIT_BUILD_DIR) + "/" + rel; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

int remaining_ms(Clock::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return d < 0 ? 0 : static_cast<int>(d);
}

// Everything the child needs is built before fork(): after it, only async-signal-safe calls.
pid_t spawn(const std::vector<std::string>& args, int out_fd) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& s : copy) argv.push_back(s.data());
  argv.push_back(nullptr);
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (devnull >= 0) ::close(devnull);
  return pid;
}

// A program run to completion with its output captured; exit code -1 when killed at the deadline.
std::pair<int, std::string> run_capture(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds deadline) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return {-1, "pipe failed"};
  pid_t pid = spawn(argv, p[1]);
  ::close(p[1]);
  std::string out;
  auto until = Clock::now() + deadline;
  for (;;) {
    pollfd pf{p[0], POLLIN, 0};
    int r = ::poll(&pf, 1, remaining_ms(until));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    char buf[4096];
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(p[0]);
  int st = 0;
  bool exited = wait_until([&] { return ::waitpid(pid, &st, WNOHANG) == pid; },
                           std::chrono::milliseconds(remaining_ms(until)) + 100ms, 5ms);
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
    return {-1, out + "\n[killed after the deadline]"};
  }
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

Result<std::uint16_t> free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return make_error("io_error", std::string("free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

Result<tls::ContextPtr> context_of(const std::string& cert_pem,
                                   const std::vector<std::string>& chain_pem,
                                   const std::string& key_pem, const tls::TrustBundle& bundle) {
  auto leaf = tls::Certificate::from_pem(cert_pem);
  if (!leaf) return leaf.error();
  auto key = tls::PrivateKey::from_pem(key_pem);
  if (!key) return key.error();
  std::vector<tls::Certificate> chain;
  for (const auto& c : chain_pem) {
    auto cert = tls::Certificate::from_pem(c);
    if (!cert) return cert.error();
    chain.push_back(std::move(*cert));
  }
  tls::Credentials creds{std::move(*leaf), std::move(chain), std::move(*key)};
  return tls::make_client_context(&creds, bundle);
}

}  // namespace

// Plain HTTP GET on loopback: the status, or -1.
std::pair<int, std::string> plain_get(std::uint16_t port, const std::string& path) {
  auto c = PlainConn::connect(port, 2s);
  if (!c) return {-1, ""};
  c->send_all("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  bool closed = false;
  std::string raw = c->read_to_end(5s, &closed);
  auto end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return {-1, raw};
  return {std::atoi(raw.c_str() + 9), raw.substr(end + 4)};
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
                std::chrono::milliseconds poll) {
  auto until = Clock::now() + deadline;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(poll);
  }
}

// ---- Process ----

Result<void> Process::start(std::vector<std::string> argv, fs::path log) {
  log_ = std::move(log);
  int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return make_error("io_error", "cannot open " + log_.string());
  pid_ = spawn(argv, fd);
  ::close(fd);
  if (pid_ < 0) return make_error("spawn_failed", std::strerror(errno));
  exit_status_.reset();
  return {};
}

bool Process::alive() {
  if (pid_ <= 0) return false;
  if (exit_status_) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    exit_status_ = st;
    return false;
  }
  return true;
}

void Process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  if (alive()) {
    ::kill(pid_, SIGTERM);
    if (!wait_until([&] { return !alive(); }, grace, 10ms)) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  pid_ = -1;
}

std::string Process::log() const { return log_.empty() ? "" : slurp(log_); }

Result<std::string> Process::wait_log(const std::string& marker, const std::string& key,
                                      std::chrono::milliseconds deadline) {
  // The digits after `marker` (key empty) or after `key=` on the marker's line.
  auto find = [&](const std::string& text) -> std::optional<std::string> {
    auto at = text.find(marker);
    if (at == std::string::npos) return std::nullopt;
    auto eol = text.find('\n', at);
    std::string line = text.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
    std::size_t pos = marker.size();
    if (!key.empty()) {
      pos = line.find(" " + key + "=");
      if (pos == std::string::npos) return std::nullopt;
      pos += key.size() + 2;
    }
    std::size_t end = pos;
    while (end < line.size() && std::isdigit(static_cast<unsigned char>(line[end]))) ++end;
    if (end == pos) return std::nullopt;
    return line.substr(pos, end - pos);
  };
  std::optional<std::string> found;
  wait_until([&] { return (found = find(log())) || !alive(); }, deadline);
  if (!found) found = find(log());
  if (found) return *found;
  return make_error(alive() ? "timeout" : "exited",
                    "no \"" + marker + "\" " + key + " in " + log_.string() + ":\n" + log());
}

// ---- PlainConn ----

Result<PlainConn> PlainConn::connect(std::uint16_t port, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error("io_error", std::strerror(errno));
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return make_error("connect_failed", "127.0.0.1:" + std::to_string(port) + ": " + why);
  }
  return PlainConn(fd);
}

PlainConn::~PlainConn() {
  if (fd_ >= 0) ::close(fd_);
}

bool PlainConn::send_all(const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::string PlainConn::read_to_end(std::chrono::milliseconds timeout, bool* closed) {
  auto until = Clock::now() + timeout;
  std::string out;
  *closed = false;
  char buf[16384];
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(until));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return out;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *closed = true;
      return out;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// ---- TlsConn ----

namespace {

// Runs `op` on `io` until it finishes or `timeout` passes; then `cancel` and let it unwind.
template <class Op>
bool drive(asio::io_context& io, Op op, std::chrono::milliseconds timeout,
           const std::function<void()>& cancel) {
  bool done = false;
  asio::co_spawn(io, std::move(op), [&done](std::exception_ptr) { done = true; });
  io.restart();
  auto until = Clock::now() + timeout;
  // run_one_for: the stream may keep other work (timers) queued after `op` has finished.
  while (!done && Clock::now() < until) io.run_one_for(until - Clock::now());
  if (done) return true;
  cancel();
  auto grace = Clock::now() + 2s;
  io.restart();
  while (!done && Clock::now() < grace) io.run_one_for(grace - Clock::now());
  return false;
}

}  // namespace

Result<std::unique_ptr<TlsConn>> TlsConn::connect(std::uint16_t port, tls::ContextPtr context,
                                                  std::chrono::milliseconds timeout) {
  std::unique_ptr<TlsConn> c(new TlsConn());
  asio::ip::tcp::socket sock(c->io_);
  boost::system::error_code result = asio::error::timed_out;
  auto connect = [&]() -> asio::awaitable<void> {
    auto [ec] = co_await sock.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                            asio::as_tuple(asio::use_awaitable));
    result = ec;
  };
  drive(c->io_, connect(), timeout, [&] { sock.close(); });
  if (result)
    return make_error("connect_failed",
                      "127.0.0.1:" + std::to_string(port) + ": " + result.message());
  c->stream_ = std::make_unique<tls::TlsStream>(std::move(sock), std::move(context),
                                                tls::TlsStream::Role::kClient);
  result = asio::error::timed_out;
  auto* s = c->stream_.get();
  auto hs = [&]() -> asio::awaitable<void> { result = co_await s->handshake(); };
  drive(c->io_, hs(), timeout, [&] { s->close(); });
  if (result) return make_error("tls_handshake_failed", result.message());
  return c;
}

TlsConn::~TlsConn() {
  if (stream_) stream_->close();
  stream_.reset();
  io_.restart();
  io_.poll();
}

bool TlsConn::send_all(const std::string& data, std::chrono::milliseconds timeout) {
  boost::system::error_code result = asio::error::timed_out;
  auto* s = stream_.get();
  auto op = [&]() -> asio::awaitable<void> { result = co_await s->write_all(asio::buffer(data)); };
  drive(io_, op(), timeout, [&] { s->close(); });
  return !result;
}

bool TlsConn::shutdown_write(std::chrono::milliseconds timeout) {
  boost::system::error_code result = asio::error::timed_out;
  auto* s = stream_.get();
  auto op = [&]() -> asio::awaitable<void> { result = co_await s->shutdown_write(); };
  drive(io_, op(), timeout, [&] { s->close(); });
  return !result;
}

std::optional<std::string> TlsConn::read_n(std::size_t n, std::chrono::milliseconds timeout) {
  std::string out;
  bool ok = false;
  auto* s = stream_.get();
  auto op = [&]() -> asio::awaitable<void> {
    char buf[16384];
    while (out.size() < n) {
      auto [ec, got] =
          co_await s->read_some(asio::buffer(buf, std::min(sizeof buf, n - out.size())));
      if (ec) co_return;
      out.append(buf, got);
    }
    ok = true;
  };
  drive(io_, op(), timeout, [&] { s->close(); });
  if (!ok) return std::nullopt;
  return out;
}

std::string TlsConn::read_to_end(std::chrono::milliseconds timeout, bool* closed) {
  std::string out;
  *closed = false;
  auto* s = stream_.get();
  auto op = [&]() -> asio::awaitable<void> {
    char buf[16384];
    for (;;) {
      auto [ec, got] = co_await s->read_some(asio::buffer(buf));
      out.append(buf, got);
      if (ec) {
        *closed = true;
        co_return;
      }
    }
  };
  bool finished = drive(io_, op(), timeout, [&] { s->close(); });
  if (!finished) *closed = false;
  return out;
}

bool TlsConn::echo(const std::string& msg, std::chrono::milliseconds timeout) {
  if (!send_all(msg, timeout)) return false;
  auto back = read_n(msg.size(), timeout);
  return back && *back == msg;
}

// ---- GatewayEnv ----

GatewayEnv::~GatewayEnv() { down(); }

void GatewayEnv::down() {
  gateway_.stop();
  target_proxy_.stop();
  echo_.stop();
  controller_.stop();
  if (!dir_.empty() && std::getenv("STRAIT_TEST_KEEP_DIR") == nullptr) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  dir_.clear();
}

std::string GatewayEnv::logs() const {
  std::string out;
  for (const auto* p : {&controller_, &echo_, &target_proxy_, &gateway_}) {
    if (p->log_path().empty()) continue;
    std::string text = p->log();
    if (text.size() > 20000) text = "...\n" + text.substr(text.size() - 20000);
    out += "===== " + p->log_path().filename().string() + " =====\n" + text + "\n";
  }
  return out;
}

Result<std::string> GatewayEnv::straitctl(std::vector<std::string> args) {
  args.insert(args.begin(), build_path("cli/straitctl"));
  args.push_back("--state-dir");
  args.push_back((dir_ / "state").string());
  auto [code, out] = run_capture(args, 30s);
  if (code != 0)
    return make_error("straitctl_failed", args[1] + " exited " + std::to_string(code) + ": " + out);
  return out;
}

Result<void> GatewayEnv::apply(const std::string& yaml) {
  static int n = 0;
  fs::path f = dir_ / ("manifest-" + std::to_string(++n) + ".yaml");
  write_text(f, yaml);
  auto r = straitctl({"apply", "-f", f.string()});
  if (!r) return r.error();
  return {};
}

Result<std::string> GatewayEnv::write_token(const std::string& ns, const std::string& sa) {
  auto token = straitctl({"token", "--namespace", ns, "--service-account", sa, "--ttl", "1h"});
  if (!token) return token.error();
  fs::path f = dir_ / (ns + "-" + sa + ".token");
  write_text(f, trim(*token));
  return f.string();
}

Result<void> GatewayEnv::start_controller() {
  controlplane::InstallOptions o;
  o.cluster = kCluster;
  o.trust_domain = kTrustDomain;
  o.state_dir = dir_ / "state";
  o.identity_listen = o.destination_listen = o.admin_listen = "127.0.0.1:0";
  o.export_listen = o.dns_listen = "127.0.0.1:0";
  if (auto r = controlplane::install_state(o); !r) return r;
  auto r = controller_.start({build_path("controlplane/strait-controller"), "--config",
                              (dir_ / "state" / "controller.yaml").string(),
                              "--cluster.inboundProxyPort=" + std::to_string(target_proxy_port)},
                             dir_ / "controller.log");
  if (!r) return r;
  const fs::path endpoints = dir_ / "state" / "run" / "endpoints.json";
  // run/endpoints.json of this very process (it carries the pid).
  auto parse = [&]() -> bool {
    boost::system::error_code ec;
    auto json = boost::json::parse(slurp(endpoints), ec);
    if (ec || !json.is_object()) return false;
    const auto& o = json.as_object();
    const auto* pid = o.if_contains("pid");
    if (pid == nullptr || !pid->is_int64() || pid->as_int64() != controller_.pid()) return false;
    auto str = [&](const char* k) {
      const auto* v = o.if_contains(k);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    identity_address = str("identity");
    destination_address = str("destination");
    return true;
  };
  bool ok = wait_until([&] { return parse() || !controller_.alive(); }, 30s);
  if (!ok || !parse()) {
    return make_error("controller_not_up", "no run/endpoints.json of this controller: " +
                                               slurp(endpoints) + "\n" + controller_.log());
  }
  if (identity_address.empty() || destination_address.empty()) {
    return make_error("controller_not_up", "endpoints.json lacks addresses: " + slurp(endpoints));
  }
  return {};
}

Result<void> GatewayEnv::make_contexts() {
  auto anchor = slurp(dir_ / "state" / "ca" / "anchor.crt");
  auto bundle = tls::TrustBundle::from_pem(anchor);
  if (!bundle) return bundle.error();
  auto token =
      straitctl({"token", "--namespace", "remote", "--service-account", "client", "--ttl", "1h"});
  if (!token) return token.error();
  auto client_id = identity::SpiffeId::workload(kTrustDomain, "remote", "client");
  auto creds = controlplane::certify(identity_address, anchor, client_id, trim(*token), 10s);
  if (!creds) return creds.error();
  auto with = context_of(creds->cert_pem, creds->chain_pem, creds->key_pem, *bundle);
  if (!with) return with.error();
  contexts.with_client_cert = *with;
  auto without = tls::make_client_context(nullptr, *bundle);
  if (!without) return without.error();
  contexts.without_cert = *without;

  // The same identity, vouched for by a root nobody here trusts.
  auto rogue = tls::CertificateAuthority::create_root("rogue root", std::chrono::hours(1));
  if (!rogue) return rogue.error();
  auto key = tls::PrivateKey::generate_p256();
  if (!key) return key.error();
  auto csr_pem = tls::make_csr(*key, client_id);
  if (!csr_pem) return csr_pem.error();
  auto csr = tls::CertificateRequest::from_pem(*csr_pem);
  if (!csr) return csr.error();
  auto leaf = rogue->issue_leaf(*csr, client_id, std::chrono::hours(1));
  if (!leaf) return leaf.error();
  auto foreign = context_of(leaf->to_pem(), {}, key->to_pem(), *bundle);
  if (!foreign) return foreign.error();
  contexts.foreign_cert = *foreign;
  return {};
}

std::string GatewayEnv::proxy_yaml(const std::string& ns, const std::string& sa,
                                   const std::string& token, const std::string& inbound) const {
  return "identity:\n  trustDomain: " + std::string(kTrustDomain) + "\n  namespace: " + ns +
         "\n  serviceAccount: " + sa + "\n  tokenFile: " + token +
         "\n  trustAnchors: " + (dir_ / "state" / "ca" / "anchor.crt").string() +
         "\ncontroller:\n  identity: " + identity_address +
         "\n  destination: " + destination_address +
         "\ncluster:\n  domain: cluster.local\n  name: " + kCluster +
         "\nlisten:\n  outbound: 127.0.0.1:0\n"
         "  inbound: " +
         inbound + "\n  admin: 127.0.0.1:0\n";
}

Result<std::pair<std::uint16_t, std::uint16_t>> GatewayEnv::start_gateway(
    Process& p, const std::string& name, const std::string& token_file,
    const std::vector<std::string>& flags) {
  const fs::path yaml = dir_ / (name + ".yaml");
  write_text(yaml, proxy_yaml("strait-multicluster", "strait-gateway", token_file, "127.0.0.1:0"));
  std::vector<std::string> argv = {build_path("gateway/strait-gateway"), "--config", yaml.string()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  if (auto r = p.start(argv, dir_ / (name + ".log")); !r) {
    return r.error();
  }
  auto gw = p.wait_log("gateway serving", "gateway_port", 30s);
  if (!gw) return gw.error();
  auto admin = p.wait_log("gateway serving", "admin_port", 5s);
  if (!admin) return admin.error();
  return std::pair{static_cast<std::uint16_t>(std::stoi(*gw)),
                   static_cast<std::uint16_t>(std::stoi(*admin))};
}

Result<void> GatewayEnv::up() {
  // The target proxy's port is chosen before the controller starts (every meshed endpoint's
  // proxy_port) and bound only later: a test running beside this one may take it meanwhile.
  // That, and only that, is worth a fresh start.
  for (int attempt = 1;; ++attempt) {
    auto r = up_once();
    if (r || attempt == 3 ||
        r.error().message.find("Address already in use") == std::string::npos) {
      return r;
    }
    down();
  }
}

Result<void> GatewayEnv::up_once() {
  char tmpl[] = "/tmp/strait-gwit-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return make_error("io_error", "mkdtemp failed");
  dir_ = tmpl;

  // The target's proxy listens on the cluster's inbound proxy port, which the controller hands
  // out as every meshed endpoint's proxy_port: pick it first.
  auto port = free_port();
  if (!port) return port.error();
  target_proxy_port = *port;
  if (auto r = start_controller(); !r) return r;

  // The workload: an echo server.
  if (auto r = echo_.start({build_path("tests/tools/strait-testapp"), "echo", "--listen",
                            "127.0.0.1:0", "--io-timeout-ms", "120000"},
                           dir_ / "echo.log");
      !r) {
    return r;
  }
  auto echo = echo_.wait_log("listening 127.0.0.1:", "", 15s);
  if (!echo) return echo.error();
  echo_port = static_cast<std::uint16_t>(std::stoi(*echo));

  const std::string ep = std::to_string(echo_port);
  auto applied = apply(R"(apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: echo, namespace: shop}
spec:
  ports: [{name: echo, port: 80, targetPort: )" +
                       ep + R"(}]
---
apiVersion: strait.dev/v1alpha1
kind: Endpoint
metadata: {name: echo-0, namespace: shop}
spec: {service: echo, address: 127.0.0.1, port: )" +
                       ep + R"(, identity: ")" + kTargetId + R"("}
---
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: empty, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: mirror, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: strait.dev/v1alpha1
kind: Endpoint
metadata: {name: mirror-gw, namespace: shop}
spec: {service: mirror, address: 127.0.0.1, port: )" +
                       std::to_string(target_proxy_port) + R"(, identity: ")" + kGatewayId +
                       R"(", authorityOverride: "web.shop.svc.cluster.local"}
)");
  if (!applied) return applied.error();

  // The target's proxy.
  auto token = write_token("shop", "echo");
  if (!token) return token.error();
  write_text(dir_ / "target-proxy.yaml",
             proxy_yaml("shop", "echo", *token, "127.0.0.1:" + std::to_string(target_proxy_port)));
  if (auto r = target_proxy_.start({build_path("sidecar/proxy/strait-proxy"), "--config",
                                    (dir_ / "target-proxy.yaml").string()},
                                   dir_ / "target-proxy.log");
      !r) {
    return r;
  }
  auto admin = target_proxy_.wait_log("proxy serving", "admin_port", 30s);
  if (!admin) return admin.error();
  target_admin_port = static_cast<std::uint16_t>(std::stoi(*admin));

  // The gateway.
  auto gw_token = write_token("strait-multicluster", "strait-gateway");
  if (!gw_token) return gw_token.error();
  auto ports = start_gateway(gateway_, "gateway", *gw_token);
  if (!ports) return ports.error();
  std::tie(gateway_port, gateway_admin_port) = *ports;

  if (auto r = make_contexts(); !r) return r;

  // Both proxies have their certificates.
  if (!wait_until([&] { return plain_get(target_admin_port, "/ready").first == 200; }, 30s, 50ms)) {
    return make_error("not_ready", "the target proxy is not ready: " +
                                       plain_get(target_admin_port, "/ready").second);
  }
  if (!wait_until([&] { return https_get("/ready", 2s).first == 200; }, 30s, 50ms)) {
    return make_error("not_ready", "the gateway is not ready: " + https_get("/ready").second);
  }
  return {};
}

Result<std::unique_ptr<TlsConn>> GatewayEnv::open(const std::string& target_name,
                                                  std::uint16_t target_port,
                                                  tls::ContextPtr context) {
  proxy::TransportHeader h;
  h.target_port = target_port;
  h.target_name = target_name;
  return open_with_header(gateway_port, h, context);
}

Result<std::unique_ptr<TlsConn>> GatewayEnv::open_with_header(std::uint16_t port,
                                                              const proxy::TransportHeader& h,
                                                              tls::ContextPtr context) {
  auto c = TlsConn::connect(port, context ? context : contexts.with_client_cert);
  if (!c) return c.error();
  auto bytes = h.encode();
  if (!bytes) return bytes.error();
  if (!(*c)->send_all(*bytes)) return make_error("write_failed", "the transport header");
  return c;
}

std::pair<int, std::string> GatewayEnv::https_get(const std::string& path,
                                                  std::chrono::milliseconds timeout,
                                                  std::uint16_t port) {
  if (!contexts.without_cert) return {-1, "no client context yet"};
  auto c = TlsConn::connect(port != 0 ? port : gateway_admin_port, contexts.without_cert, timeout);
  if (!c) return {-1, c.error().to_string()};
  if (!(*c)->send_all("GET " + path + " HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n",
                      timeout)) {
    return {-1, "write failed"};
  }
  bool closed = false;
  std::string raw = (*c)->read_to_end(timeout, &closed);
  auto end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return {-1, raw};
  return {std::atoi(raw.c_str() + 9), raw.substr(end + 4)};
}

std::string GatewayEnv::target_metrics() { return plain_get(target_admin_port, "/metrics").second; }

}  // namespace strait::gateway_it
