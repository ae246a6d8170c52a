// ControllerProcess and the small process, HTTP and wait helpers around it.
#include "tests/controlplane/integration/controller_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "controlplane/server/controller_config.h"
#include "controlplane/server/state_files.h"
#include "core/discovery/json_codec.h"
#include "core/tls/authority.h"
#include "core/tls/csr.h"
#include "core/tls/key.h"

namespace strait::controlplane::testing {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
                std::chrono::milliseconds poll) {
  auto until = Clock::now() + deadline;
  while (true) {
    if (condition()) return true;
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(poll);
  }
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "strait-cint-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return;
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) fs::remove_all(path_, ec);
}

namespace {

// Everything a child needs is prepared before fork(): after it, only async-signal-safe calls.
struct Spawn {
  std::vector<std::string> args;
  std::vector<char*> argv;
  explicit Spawn(std::vector<std::string> a) : args(std::move(a)) {
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
  }
};

// fork/exec with stdout and stderr on `out_fd`, stdin on /dev/null; the child dies with us.
pid_t spawn(Spawn& s, int out_fd) {
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    // The test process blocks no signals the child should see, but reset anyway.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Asio opens sockets without close-on-exec: the child must not inherit the test's.
    for (int fd = 3; fd < 4096; ++fd) ::close(fd);
    ::execv(s.argv[0], s.argv.data());
    ::_exit(127);
  }
  if (devnull >= 0) ::close(devnull);
  return pid;
}

// Waits for `pid` to exit within the deadline; the exit code (-1 for a signal), or nullopt.
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds deadline) {
  std::optional<int> code;
  wait_until(
      [&] {
        int st = 0;
        pid_t r = ::waitpid(pid, &st, WNOHANG);
        if (r == pid) {
          code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
          return true;
        }
        return r < 0;  // not our child any more: nothing to wait for
      },
      deadline, 5ms);
  return code;
}

std::string status_name(grpc::StatusCode code) {
  static const char* names[] = {"ok",
                                "cancelled",
                                "unknown",
                                "invalid_argument",
                                "deadline_exceeded",
                                "not_found",
                                "already_exists",
                                "permission_denied",
                                "resource_exhausted",
                                "failed_precondition",
                                "aborted",
                                "out_of_range",
                                "unimplemented",
                                "internal",
                                "unavailable",
                                "data_loss",
                                "unauthenticated"};
  auto i = static_cast<std::size_t>(code);
  return i < std::size(names) ? names[i] : "grpc_" + std::to_string(i);
}

Error rpc_error(const grpc::Status& s) {
  return make_error(status_name(s.error_code()), s.error_message());
}

std::unique_ptr<grpc::ClientContext> rpc_context() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + 10s);
  return c;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds deadline) {
  ProcessResult out;
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return out;
  Spawn s(argv);
  pid_t pid = spawn(s, pipefd[1]);
  ::close(pipefd[1]);
  if (pid < 0) {
    ::close(pipefd[0]);
    return out;
  }
  auto until = Clock::now() + deadline;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{pipefd[0], POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    char buf[4096];
    ssize_t n = ::read(pipefd[0], buf, sizeof buf);
    if (n <= 0) break;  // EOF: the child closed its output (exited)
    out.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipefd[0]);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
  auto code = wait_exit(pid, std::max(left, 100ms));
  if (!code) {
    ::kill(pid, SIGKILL);
    int st;
    ::waitpid(pid, &st, 0);
    out.output += "\n[run_process: killed after the deadline]";
    return out;
  }
  out.exit_code = *code;
  return out;
}

HttpResponse http_get(std::uint16_t port, const std::string& path,
                      std::chrono::milliseconds deadline) {
  HttpResponse out;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{static_cast<time_t>(deadline.count() / 1000),
             static_cast<suseconds_t>((deadline.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return out;
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return out;
  }
  std::string raw;
  auto until = Clock::now() + deadline;
  char buf[8192];
  while (Clock::now() < until) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
    // With Content-Length we can stop as soon as the body is complete.
    auto end = raw.find("\r\n\r\n");
    if (end == std::string::npos) continue;
    std::string head = raw.substr(0, end);
    std::string lower;
    for (char c : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto cl = lower.find("content-length:");
    if (cl != std::string::npos &&
        raw.size() >= end + 4 + std::strtoul(head.c_str() + cl + 15, nullptr, 10)) {
      break;
    }
  }
  ::close(fd);
  auto end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return out;
  out.status = std::atoi(raw.c_str() + 9);
  out.headers = raw.substr(0, end);
  out.body = raw.substr(end + 4);
  return out;
}

double metric_value(const std::string& exposition, const std::string& sample) {
  std::size_t pos = 0;
  while (pos < exposition.size()) {
    auto nl = exposition.find('\n', pos);
    if (nl == std::string::npos) nl = exposition.size();
    std::string_view line(exposition.data() + pos, nl - pos);
    if (line.size() > sample.size() && line.substr(0, sample.size()) == sample &&
        line[sample.size()] == ' ') {
      return std::strtod(std::string(line.substr(sample.size() + 1)).c_str(), nullptr);
    }
    pos = nl + 1;
  }
  return -1;
}

std::string ControllerProcess::controller_binary() {
  return std::string(STRAIT_BUILD_DIR) + "/controlplane/strait-controller";
}
std::string ControllerProcess::straitctl_binary() {
  return std::string(STRAIT_BUILD_DIR) + "/cli/straitctl";
}

ControllerProcess::ControllerProcess(ControllerOptions options) : options_(std::move(options)) {
  state_dir_ = dir_.path() / "state";
  log_path_ = dir_.path() / "controller.log";
}

ControllerProcess::~ControllerProcess() {
  stop(5s);
  if (::testing::Test::HasFailure() || std::getenv("STRAIT_TEST_PRINT_LOG") != nullptr) {
    std::cerr << "----- strait-controller log (" << log_path_.string() << ") -----\n"
              << log() << "----- end of log -----\n";
  }
}

Result<void> ControllerProcess::install() {
  InstallOptions o;
  o.cluster = options_.cluster;
  o.trust_domain = options_.trust_domain;
  o.state_dir = state_dir_;
  o.identity_listen = "127.0.0.1:0";
  o.destination_listen = "127.0.0.1:0";
  o.admin_listen = "127.0.0.1:0";
  o.dns_listen = "127.0.0.1:0";
  return install_state(o);
}

Result<void> ControllerProcess::start(std::chrono::milliseconds deadline) {
  if (running()) return make_error("already_running", "the controller is running");
  // A previous run's file must not be mistaken for this run's.
  std::error_code ec;
  fs::remove(state_dir_ / "run" / "endpoints.json", ec);
  std::vector<std::string> args = {controller_binary(), "--config",
                                   (state_dir_ / "controller.yaml").string()};
  args.insert(args.end(), options_.flags.begin(), options_.flags.end());
  int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return make_error("io_error", "cannot open " + log_path_.string());
  Spawn s(args);
  pid_ = spawn(s, fd);
  ::close(fd);
  if (pid_ < 0) return make_error("spawn_failed", std::strerror(errno));

  std::optional<int> exited;
  Result<void> found = make_error("timeout", "no endpoints.json");
  bool ok = wait_until(
      [&] {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
          exited = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
          return true;
        }
        found = read_endpoints();
        return found.ok();
      },
      deadline, 10ms);
  if (exited) {
    pid_ = -1;
    return make_error("exited", "strait-controller exited with " + std::to_string(*exited) +
                                    " before serving:\n" + log());
  }
  if (!ok) {
    stop(1s);
    return make_error("timeout", "strait-controller did not write its endpoints within " +
                                     std::to_string(deadline.count()) + "ms (" +
                                     found.error().message + ")");
  }
  return {};
}

Result<void> ControllerProcess::read_endpoints() {
  auto text = read_file(state_dir_ / "run" / "endpoints.json");
  if (!text) return text.error();
  boost::system::error_code ec;
  auto json = boost::json::parse(*text, ec);
  if (ec || !json.is_object()) return make_error("invalid", "endpoints.json: not a JSON object");
  const auto& o = json.as_object();
  const auto* pid = o.if_contains("pid");
  if (pid == nullptr || !pid->is_int64() || pid->as_int64() != pid_) {
    return make_error("stale", "endpoints.json is not from this process");
  }
  auto str = [&](const char* k) -> std::string {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  identity_address_ = str("identity");
  destination_address_ = str("destination");
  export_address_ = str("export");
  dns_address_ = str("dns");
  std::string admin = str("admin");
  auto colon = admin.rfind(':');
  admin_port_ = colon == std::string::npos
                    ? 0
                    : static_cast<std::uint16_t>(std::atoi(admin.c_str() + colon + 1));
  if (identity_address_.empty() || destination_address_.empty() || admin_port_ == 0) {
    return make_error("invalid", "endpoints.json lacks an address: " + *text);
  }
  return {};
}

int ControllerProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto code = wait_exit(pid_, grace);
  if (!code) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
    code = -1;
  }
  pid_ = -1;
  return *code;
}

void ControllerProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

std::string ControllerProcess::log() const {
  auto text = read_file(log_path_);
  return text ? *text : std::string();
}

std::string ControllerProcess::anchor_pem() const {
  auto text = read_file(state_dir_ / "ca" / "anchor.crt");
  return text ? *text : std::string();
}

namespace {

// A fresh key and a one-hour leaf of `issuer` for `id`, with the issuer's chain after it.
ClientCredentials leaf_credentials(const tls::CertificateAuthority& issuer,
                                   const std::string& anchor, const std::string& id_text) {
  ClientCredentials out;
  out.anchor_pem = anchor;
  auto id = identity::SpiffeId::parse(id_text);
  auto leaf_key = tls::PrivateKey::generate_p256();
  if (!id || !leaf_key) {
    ADD_FAILURE() << "cannot make a key for " << id_text;
    return out;
  }
  auto csr_pem = tls::make_csr(*leaf_key, *id);
  auto csr = tls::CertificateRequest::from_pem(*csr_pem);
  auto leaf = issuer.issue_leaf(*csr, *id, std::chrono::hours(1));
  if (!leaf) {
    ADD_FAILURE() << leaf.error().to_string();
    return out;
  }
  out.cert_chain_pem = leaf->to_pem();
  for (const auto& c : issuer.chain()) out.cert_chain_pem += c.to_pem();
  out.key_pem = leaf_key->to_pem();
  return out;
}

}  // namespace

ClientCredentials ControllerProcess::admin_credentials() const {
  auto cert = read_file(state_dir_ / "ca" / "issuer.crt");
  auto key = read_file(state_dir_ / "ca" / "issuer.key");
  if (!cert || !key) {
    ADD_FAILURE() << "cannot read the issuer";
    return {};
  }
  auto issuer = tls::CertificateAuthority::from_pem(*cert, *key, "");
  if (!issuer) {
    ADD_FAILURE() << issuer.error().to_string();
    return {};
  }
  return leaf_credentials(*issuer, anchor_pem(), admin_identity(options_.trust_domain));
}

ClientCredentials ControllerProcess::sibling_issuer_credentials(const std::string& ns,
                                                                const std::string& sa) const {
  auto cert = read_file(state_dir_ / "ca" / "anchor.crt");
  auto key = read_file(state_dir_ / "ca" / "anchor.key");
  if (!cert || !key) {
    ADD_FAILURE() << "cannot read the trust anchor";
    return {};
  }
  auto root = tls::CertificateAuthority::from_pem(*cert, *key, "");
  if (!root) {
    ADD_FAILURE() << root.error().to_string();
    return {};
  }
  auto sibling = root->create_intermediate("strait issuer sibling", std::chrono::hours(24));
  if (!sibling) {
    ADD_FAILURE() << sibling.error().to_string();
    return {};
  }
  return leaf_credentials(*sibling, anchor_pem(),
                          identity::SpiffeId::workload(options_.trust_domain, ns, sa).to_string());
}

std::shared_ptr<grpc::Channel> ControllerProcess::channel(
    const ClientCredentials& credentials) const {
  return make_channel(destination_address_, credentials);
}

std::unique_ptr<admin::v1::Admin::Stub> ControllerProcess::admin() const {
  return admin::v1::Admin::NewStub(channel(admin_credentials()));
}

Result<std::vector<discovery::Object>> ControllerProcess::apply(
    const std::vector<discovery::Object>& objects) const {
  admin::v1::ApplyRequest req;
  for (const auto& o : objects)
    req.add_objects_json(boost::json::serialize(discovery::object_to_json(o)));
  admin::v1::ApplyResponse resp;
  auto ctx = rpc_context();
  auto s = admin()->Apply(ctx.get(), req, &resp);
  if (!s.ok()) return rpc_error(s);
  std::vector<discovery::Object> out;
  for (const auto& j : resp.objects_json()) {
    auto o = discovery::object_from_json(boost::json::parse(j));
    if (!o) return o.error();
    out.push_back(std::move(*o));
  }
  return out;
}

Result<std::vector<discovery::Object>> ControllerProcess::list(discovery::Kind kind,
                                                               const std::string& ns) const {
  admin::v1::ListRequest req;
  req.set_kind(std::string(discovery::kind_name(kind)));
  req.set_namespace_(ns);
  admin::v1::ListResponse resp;
  auto ctx = rpc_context();
  auto s = admin()->List(ctx.get(), req, &resp);
  if (!s.ok()) return rpc_error(s);
  std::vector<discovery::Object> out;
  for (const auto& j : resp.objects_json()) {
    auto o = discovery::object_from_json(boost::json::parse(j));
    if (!o) return o.error();
    out.push_back(std::move(*o));
  }
  return out;
}

Result<void> ControllerProcess::remove(discovery::Kind kind, const std::string& ns,
                                       const std::string& name) const {
  admin::v1::DeleteRequest req;
  req.set_kind(std::string(discovery::kind_name(kind)));
  req.set_namespace_(ns);
  req.set_name(name);
  admin::v1::DeleteResponse resp;
  auto ctx = rpc_context();
  auto s = admin()->Delete(ctx.get(), req, &resp);
  if (!s.ok()) return rpc_error(s);
  return {};
}

Result<std::string> ControllerProcess::issue_token(const std::string& ns, const std::string& sa,
                                                   std::chrono::seconds ttl) const {
  admin::v1::IssueTokenRequest req;
  req.set_namespace_(ns);
  req.set_service_account(sa);
  req.set_ttl_seconds(ttl.count());
  admin::v1::IssueTokenResponse resp;
  auto ctx = rpc_context();
  auto s = admin()->IssueToken(ctx.get(), req, &resp);
  if (!s.ok()) return rpc_error(s);
  return resp.token();
}

Result<WorkloadCredentials> ControllerProcess::certify_workload(const std::string& ns,
                                                                const std::string& sa) const {
  auto token = issue_token(ns, sa);
  if (!token) return token.error();
  return certify(identity_address_, anchor_pem(),
                 identity::SpiffeId::workload(options_.trust_domain, ns, sa), *token, 10s);
}

ClientCredentials ControllerProcess::credentials_of(const WorkloadCredentials& w,
                                                    const std::string& anchor) {
  return {anchor, w.cert_chain_pem(), w.key_pem};
}

}  // namespace strait::controlplane::testing
